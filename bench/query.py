"""Ranking query latency on a large generated organisation, against a naive query.

Builds (once, then cached) the demo organisation at size "large" (5,000+
colleagues, 5M+ interactions) on SQLite and on PostgreSQL, then asks "who
knows X" for many different leads and prints p50/p99 of the product's ranking
(`scoring.answer.ask` minus name resolution: `scoring.ranking.rank`) next to a
naive query that aggregates raw interactions for the same leads, in the same
run. Usage: python bench/query.py [--json] [--leads N] [--only sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scoring.ranking import rank
from scoring.strength import Weights
from signals import db
from signals.meta import read_facts
from signals.models import Interaction, PairStrength, Person
from signals.store import create_store

CACHE = Path(os.environ.get("WHOKNOWS_BENCH_CACHE", Path.home() / ".cache" / "whoknows"))
PG_ADMIN = os.environ.get("WHOKNOWS_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
PG_DB = "whoknows_bench_large"
MARKER = "bench-large-v1"

NAIVE = text(
    """
    SELECT me.person_id,
           COUNT(*) AS n,
           SUM(CASE WHEN i.kind = 'email' THEN 1 ELSE 0 END) AS emails,
           SUM(CASE WHEN i.kind = 'meeting' THEN 1 ELSE 0 END) AS meetings,
           MAX(i.occurred_at) AS last_at
    FROM participants AS lead
    JOIN interactions AS i ON i.id = lead.interaction_id
    JOIN participants AS me ON me.interaction_id = i.id AND me.person_id != lead.person_id
    JOIN people AS p ON p.id = me.person_id
    WHERE lead.person_id = :lead AND p.internal AND NOT p.opted_out AND p.enabled
    GROUP BY me.person_id
    ORDER BY n DESC, last_at DESC
    """
)


def _built(engine: Engine) -> bool:
    try:
        with engine.connect() as conn:
            value = conn.execute(
                text("SELECT value FROM store_meta WHERE key = 'bench_marker'")
            ).scalar()
            return bool(value == MARKER)
    except Exception:
        return False


def build(url: str) -> Engine:
    from signals.demo.build import build_demo

    engine = db.make_engine(url)
    if _built(engine):
        return engine
    print(f"building the large organisation into {engine.url!r} (once) ...", file=sys.stderr)
    started = time.perf_counter()
    engine = create_store(url)
    build_demo(engine, size="large")
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO store_meta (key, value) VALUES ('bench_marker', :m)"), {"m": MARKER}
        )
    print(f"built in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return engine


def postgres_url() -> str:
    admin = create_engine(db.normalise_url(PG_ADMIN), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": PG_DB}
        ).scalar()
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{PG_DB}"'))
    admin.dispose()
    return db.normalise_url(PG_ADMIN).rsplit("/", 1)[0] + f"/{PG_DB}"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(engine: Engine, leads: int) -> dict[str, float]:
    weights = Weights.from_settings()
    now = datetime.now(UTC)
    with Session(engine) as session:
        facts = read_facts(session)
        interactions = session.scalar(select(func.count()).select_from(Interaction)) or 0
        # Leads that somebody knows, from the busiest to the quietest.
        ids = list(
            session.scalars(
                select(PairStrength.lead_id)
                .join(Person, Person.id == PairStrength.lead_id)
                .where(~Person.internal)
                .group_by(PairStrength.lead_id)
            )
        )
        sample = random.Random(1).sample(ids, min(leads, len(ids)))
        for lead in sample[:20]:  # warm caches for both queries alike
            rank(session, [lead], now=now, weights=weights, facts=facts)
            session.execute(NAIVE, {"lead": lead}).all()
        ours: list[float] = []
        naive: list[float] = []
        sizes: list[int] = []
        for lead in sample:
            t0 = time.perf_counter()
            ranked, _ = rank(session, [lead], now=now, weights=weights, facts=facts)
            t1 = time.perf_counter()
            session.execute(NAIVE, {"lead": lead}).all()
            t2 = time.perf_counter()
            ours.append((t1 - t0) * 1000)
            naive.append((t2 - t1) * 1000)
            sizes.append(len(ranked))
            session.expunge_all()
    p50, naive_p50 = statistics.median(ours), statistics.median(naive)
    return {
        "interactions": interactions,
        "leads": len(sample),
        "colleagues_p50": statistics.median(sizes),
        "p50_ms": round(p50, 3),
        "p99_ms": round(percentile(ours, 0.99), 3),
        "naive_p50_ms": round(naive_p50, 3),
        "naive_p99_ms": round(percentile(naive, 0.99), 3),
        "speedup": round(naive_p50 / p50, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--leads", type=int, default=500)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    CACHE.mkdir(parents=True, exist_ok=True)
    targets = {
        "sqlite": lambda: f"sqlite:///{CACHE / 'bench-large.db'}",
        "postgresql": postgres_url,
    }
    results: dict[str, dict[str, float]] = {}
    for name, url in targets.items():
        if args.only and name != args.only:
            continue
        engine = build(url())
        results[name] = measure(engine, args.leads)
        engine.dispose()
    interactions = max(int(r["interactions"]) for r in results.values())
    if args.json:
        print(json.dumps({"interactions": interactions, "backends": results}, indent=2))
        return
    print(f"{interactions:,} interactions; ranking vs naive aggregation of raw interactions")
    for name, r in results.items():
        print(
            f"{name:<11} p50 {r['p50_ms']:7.2f} ms  p99 {r['p99_ms']:7.2f} ms  "
            f"naive p50 {r['naive_p50_ms']:8.2f} ms  p99 {r['naive_p99_ms']:8.2f} ms  "
            f"speed-up x{r['speedup']}  ({r['leads']} leads, median {r['colleagues_p50']} "
            "colleagues each)"
        )


if __name__ == "__main__":
    main()
