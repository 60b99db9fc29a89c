"""A full rebuild's peak memory as the store grows: the product's bounded rebuild
beside the plain one that holds every pair and thread in memory.

``whoknows db rebuild``, a first back-fill's end and an opt-out's wide refresh all
replay the whole store (``signals.rebuild.rebuild_in``). The goal: its peak memory
does not grow with the store, so a tenant ten times larger needs no more RAM. This
builds (once, then cached) the large demo organisation at two volumes, about 1 and
5 million interactions, and rebuilds each both ways. Each rebuild runs in a fresh
child process, so that its peak RSS is its own (``ru_maxrss``), inside a transaction
that is rolled back, so the cached stores stay as built. The 5 million store is the
one ``bench/query.py`` caches.

Usage: python bench/rebuild.py [--sizes 1m,5m] [--only sqlite|postgresql]
       [--ways bounded,in-memory] [--pair-spill N] [--json]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, delete, func, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import postgres as pg
from bench import query
from signals import db
from signals.models import Interaction, PairStrength
from signals.store import create_store

# Volumes of the large demo organisation (5,000 colleagues, 50,000 contacts): 7.0 gives
# the 5.2 million interactions of bench/query.py; 1.4 about a million.
VOLUMES = {"1m": 1.4, "5m": 7.0}
MARKER = "bench-rebuild-v1"


def store_url(size: str, backend: str) -> str:
    """The cached store of this size on this backend, built the first time."""
    if size == "5m":
        url = (
            f"sqlite:///{query.CACHE / 'bench-large.db'}"
            if backend == "sqlite"
            else query.postgres_url()
        )
        query.build(url).dispose()
        return url
    name = f"whoknows_bench_rebuild_{size}"
    if backend == "sqlite":
        url = f"sqlite:///{query.CACHE / (name + '.db')}"
    else:
        url = pg.url_of(name) if pg.exists(name) else pg.create(name)
    engine = db.make_engine(url)
    try:
        if query.built(engine, MARKER):
            db.upgrade(engine)
            return url
    finally:
        engine.dispose()
    from signals.demo.build import build_demo
    from signals.demo.org import SIZES

    print(f"building the {size} store into {url} (once) ...", file=sys.stderr)
    started = time.perf_counter()
    engine = create_store(url)
    build_demo(engine, size=replace(SIZES["large"], name=size, volume=VOLUMES[size]))
    query.mark_built(engine, MARKER)
    engine.dispose()
    print(f"built in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return url


def in_memory_rebuild(conn: Connection) -> int:
    """The plain way, for comparison: every pair and thread of the store in one
    aggregator, written at the end."""
    from signals.meta import read_facts
    from signals.models import StalePair, StaleThread, ThreadMember
    from signals.rebuild import (
        aggregator_for,
        lock_aggregates,
        lowered_feedback,
        stored_events,
        write_aggregates,
    )

    lock_aggregates(conn)
    agg = aggregator_for(conn, read_facts(conn))
    agg.add_all(stored_events(conn))
    feedback = lowered_feedback(conn)
    for table in (PairStrength, ThreadMember, StalePair, StaleThread):
        conn.execute(delete(table))
    write_aggregates(conn, agg.pairs, agg.memberships(), feedback)
    return len(agg.pairs)


def child(url: str, way: str, pair_spill: int | None) -> dict[str, Any]:
    """One rebuild in this (fresh) process; its time and the process's peak RSS."""
    from signals import rebuild
    from signals.rebuild import rebuild_in

    if pair_spill:
        rebuild.PAIR_SPILL = pair_spill

    engine = db.make_engine(url)
    with engine.connect() as conn:
        interactions = int(conn.scalar(select(func.count()).select_from(Interaction)) or 0)
    start_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with engine.connect() as conn, conn.begin() as tx:
        t0 = time.perf_counter()
        pairs = rebuild_in(conn) if way == "bounded" else in_memory_rebuild(conn)
        seconds = time.perf_counter() - t0
        tx.rollback()
    engine.dispose()
    return {
        "interactions": interactions,
        "pairs": pairs,
        "seconds": round(seconds, 1),
        "start_rss_mb": start_rss >> 10,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss >> 10,
    }


def run_child(url: str, way: str, pair_spill: int | None) -> dict[str, Any]:
    spill = ["--pair-spill", str(pair_spill)] if pair_spill else []
    out = subprocess.run(
        [sys.executable, __file__, "--child", url, "--way", way, *spill],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1m,5m")
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    parser.add_argument("--ways", default="bounded,in-memory")
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--pair-spill", type=int, help="pairs held before a spill (default: the product's)"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--way", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.way, args.pair_spill)))
        return
    query.CACHE.mkdir(parents=True, exist_ok=True)
    results: list[dict[str, Any]] = []
    for backend in ("sqlite", "postgresql"):
        if args.only and backend != args.only:
            continue
        for size in args.sizes.split(","):
            url = store_url(size, backend)
            for way in args.ways.split(","):
                measured = run_child(url, way, args.pair_spill)
                run = {"backend": backend, "size": size, "way": way, **measured}
                results.append(run)
                if not args.json:
                    print(
                        f"{backend:10} {run['interactions']:>10,} interactions"
                        f" {run['pairs']:>10,} pairs  {way:9}  {run['seconds']:7.1f} s"
                        f"  peak RSS {run['peak_rss_mb']:6,} MB"
                        f" (process at start {run['start_rss_mb']} MB)",
                        flush=True,
                    )
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
