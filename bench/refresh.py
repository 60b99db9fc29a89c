"""Refreshing the aggregates after removed messages: scoped refresh vs full rebuild.

A sync run that sees messages removed (or arriving after later ones of their
thread) marks what they touched stale and ends with ``signals.stale.refresh``;
before, it rebuilt every aggregate. For k messages removed at random from a
generated organisation, this prints the time of the scoped refresh next to the
full rebuild (``signals.rebuild.rebuild_in``), in the same process, on the same
store, both inside a transaction that is rolled back; and checks that both give
the same rows for the pairs the removed messages linked (tests/test_stale_refresh.py
compares whole stores).

``--size small`` (default) builds the small demo organisation in a temporary
SQLite file and PostgreSQL database; ``--size large`` works on copies of the
stores ``bench/query.py`` caches (5M+ interactions; a full rebuild there takes
minutes, so one k only unless ``--removed`` says otherwise).

Usage: python bench/refresh.py [--size small|large] [--removed 1,10,100]
       [--only sqlite|postgresql] [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import postgres as pg
from bench.query import CACHE, PG_DB, build, postgres_url
from signals import stale
from signals.models import Interaction, Kind, PairStrength, StalePair
from signals.rebuild import rebuild_in
from signals.store import create_store

BENCH_COPY = "whoknows_bench_refresh"


@contextmanager
def _small(backend: str) -> Iterator[Engine]:
    from signals.demo.build import build_demo

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/refresh.db" if backend == "sqlite" else pg.create(BENCH_COPY)
        engine = create_store(url)
        build_demo(engine, "small")
        rebuild_in_place(engine)
        try:
            yield engine
        finally:
            engine.dispose()
            if backend == "postgresql":
                pg.drop(BENCH_COPY)


@contextmanager
def _large(backend: str) -> Iterator[Engine]:
    """A copy of bench/query.py's cached store, upgraded to the current schema."""
    if backend == "sqlite":
        source = Path(str(build(f"sqlite:///{CACHE / 'bench-large.db'}").url.database))
        with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
            copy = Path(tmp) / "refresh.db"
            shutil.copyfile(source, copy)
            engine = create_store(f"sqlite:///{copy}")
            try:
                yield engine
            finally:
                engine.dispose()
        return
    build(postgres_url()).dispose()  # a template may have no other connections
    engine = create_store(pg.create(BENCH_COPY, template=PG_DB))
    try:
        yield engine
    finally:
        engine.dispose()
        pg.drop(BENCH_COPY)


def rebuild_in_place(engine: Engine) -> None:
    """Start from aggregates exactly as a replay gives them."""
    with engine.begin() as conn:
        rebuild_in(conn)


def _remove(conn: Connection, ids: list[int]) -> None:
    stale.mark(conn, ids)
    conn.execute(delete(Interaction).where(Interaction.id.in_(ids)))


def _rows(conn: Connection, keys: list[tuple[int, int]]) -> dict[tuple[int, int], tuple[Any, ...]]:
    out = {}
    for introducer, lead in keys:
        row = conn.execute(
            select(PairStrength.__table__).where(
                PairStrength.introducer_id == introducer, PairStrength.lead_id == lead
            )
        ).first()
        out[(introducer, lead)] = tuple(row) if row is not None else ()
    return out


def measure(engine: Engine, removed: list[int], seed: int = 1) -> dict[str, Any]:
    with engine.connect() as conn:
        emails = list(
            conn.execute(
                select(Interaction.id)
                .where(Interaction.kind == Kind.EMAIL)
                .order_by(Interaction.id)
            ).scalars()
        )
        interactions = len(emails) + int(
            conn.execute(select(func.count()).where(Interaction.kind != Kind.EMAIL)).scalar_one()
        )
        pairs = int(conn.execute(select(func.count()).select_from(PairStrength)).scalar_one())
    result: dict[str, Any] = {"interactions": interactions, "pairs": pairs, "runs": []}
    for k in removed:
        ids = sorted(random.Random(seed + k).sample(emails, k))
        with engine.connect() as conn, conn.begin() as tx:
            _remove(conn, ids)
            keys = sorted(
                (i, lead)
                for i, lead in conn.execute(select(StalePair.introducer_id, StalePair.lead_id))
            )
            t0 = time.perf_counter()
            done = stale.refresh(conn)
            scoped = time.perf_counter() - t0
            after_scoped = _rows(conn, keys)
            tx.rollback()
        rss_scoped = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        with engine.connect() as conn, conn.begin() as tx:
            _remove(conn, ids)
            t0 = time.perf_counter()
            rebuild_in(conn)
            full = time.perf_counter() - t0
            after_full = _rows(conn, keys)
            tx.rollback()
        rss_full = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        result["runs"].append(
            {
                "removed": k,
                "refreshed_pairs": done.pairs,
                "replayed_interactions": done.replayed,
                "scoped_s": round(scoped, 4),
                "full_s": round(full, 3),
                "speedup": round(full / scoped, 1),
                "same_rows": after_scoped == after_full,
                # The process's peak so far: per backend only for the first one run.
                "max_rss_mb_after_scoped": rss_scoped >> 10,
                "max_rss_mb_after_full": rss_full >> 10,
            }
        )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=["small", "large"], default="small")
    parser.add_argument("--removed", default=None, help="comma-separated k (default 1,10,100)")
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    removed = [int(k) for k in (args.removed or "1,10,100").split(",")]
    CACHE.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {}
    for backend in ("sqlite", "postgresql"):
        if args.only and backend != args.only:
            continue
        store = _small if args.size == "small" else _large
        with store(backend) as engine:
            results[backend] = measure(engine, removed)
    if args.json:
        print(json.dumps({"size": args.size, "backends": results}, indent=2))
        return
    for backend, r in results.items():
        print(f"{backend}: {r['interactions']:,} interactions, {r['pairs']:,} pairs")
        for run in r["runs"]:
            print(
                f"  {run['removed']:>4} removed: scoped {run['scoped_s'] * 1000:8.1f} ms"
                f" ({run['refreshed_pairs']} pairs, {run['replayed_interactions']} interactions"
                f" replayed)  full rebuild {run['full_s']:7.2f} s  x{run['speedup']}"
                f"  same rows: {run['same_rows']}"
                f"  process peak RSS {run['max_rss_mb_after_scoped']} MB after the refresh,"
                f" {run['max_rss_mb_after_full']} MB after the rebuild"
            )


if __name__ == "__main__":
    main()
