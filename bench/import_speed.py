"""Import throughput: Writer into SQLite and PostgreSQL, and mbox parse speed.

Generates N already-parsed InteractionRecords with a realistic shape (threads
of e-mails with replies, 1-6 recipients, Cc, newsletters, meetings with
responses, calls) and writes them with ``signals.ingest.Writer`` into a fresh
SQLite file and a fresh PostgreSQL database (created on 127.0.0.1:5432 as user
postgres, dropped afterwards). For each it prints interactions/s, the rate of
a minimal alternative in the same process (a plain ``executemany`` of the same
interaction rows, with no participants, people or aggregates) and the ratio,
then where the time goes: the Writer's own per-phase wall-clock timings
(``Writer.timings``) from that same unprofiled run; ``--profile`` adds a
cProfile pass over the first records and its top functions. Finally it measures
how fast mbox files are parsed (messages/s, headers only) against reading the
same fields with the standard library (``mailbox.mbox``, which parses whole
messages, plus ``getaddresses`` and ``parsedate_to_datetime``). On SQLite it
also prints what noticing late messages costs a file import (``order_tracking``).

Usage: python bench/import_speed.py [--n 50000] [--batch N] [--mbox 20000]
       [--only sqlite|postgresql] [--profile] [--json]
(``--batch`` defaults to the WHOKNOWS_BATCH_SIZE setting.)
"""

from __future__ import annotations

import argparse
import cProfile
import json
import mailbox
import math
import pstats
import random
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, getaddresses, parsedate_to_datetime
from pathlib import Path
from typing import Any
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import Engine

from bench import postgres as pg
from signals import settings
from signals.importers.mbox import read_mbox
from signals.ingest import Writer, write_all
from signals.models import Kind, Response
from signals.records import Attendee, InteractionRecord, Party
from signals.store import create_store

START = datetime(2025, 3, 1, tzinfo=UTC)
PROFILED = 20_000  # records in the optional cProfile pass (--profile)
RESPONSES = [Response.ACCEPTED] * 6 + [Response.TENTATIVE, Response.DECLINED, Response.NONE]


def _people(rng: random.Random) -> tuple[list[Party], list[Party]]:
    first = ["ana", "ben", "chen", "dara", "eli", "fay", "gus", "hana", "ivo", "jun", "kai", "lea"]
    last = ["ortiz", "park", "quinn", "ross", "sato", "tran", "ueda", "vega", "wong", "young"]
    colleagues = [
        Party(f"{f}.{s}{i}@contoso.com", f"{f.title()} {s.title()}")
        for i, (f, s) in enumerate((rng.choice(first), rng.choice(last)) for _ in range(300))
    ]
    externals = [
        Party(f"{f}.{s}{i}@company{i % 300}.example", f"{f.title()} {s.title()}")
        for i, (f, s) in enumerate((rng.choice(first), rng.choice(last)) for _ in range(3000))
    ]
    return colleagues, externals


def generate(n: int, seed: int = 7) -> list[InteractionRecord]:
    """``n`` records in time order: ~70% e-mail (half replies), 20% meetings, 10% calls."""
    rng = random.Random(seed)
    colleagues, externals = _people(rng)
    everyone = colleagues + externals
    step = timedelta(days=365) / max(n, 1)
    threads: list[tuple[str, str, Party, list[Party]]] = []  # thread key, last id, author, others
    out: list[InteractionRecord] = []
    for i in range(n):
        at = START + step * i
        roll = rng.random()
        if roll < 0.35 and threads:
            tkey, parent, author, others = rng.choice(threads[-200:])
            replier = rng.choice(others)
            key = f"<b{i}@bench>"
            out.append(
                InteractionRecord(
                    Kind.EMAIL,
                    key,
                    at,
                    replier,
                    to=[author],
                    cc=[p for p in others if p != replier][:2],
                    thread_key=tkey,
                    parent_key=parent,
                )
            )
            threads.append((tkey, key, replier, [author, *others]))
        elif roll < 0.7:
            author = rng.choice(colleagues) if rng.random() < 0.6 else rng.choice(externals)
            to = rng.sample(everyone, rng.randint(1, 4))
            cc = rng.sample(everyone, rng.randint(0, 2))
            key = f"<b{i}@bench>"
            out.append(InteractionRecord(Kind.EMAIL, key, at, author, to=to, cc=cc, thread_key=key))
            threads.append((key, key, author, to + cc))
        elif roll < 0.72:  # a newsletter: many recipients, flagged bulk
            out.append(
                InteractionRecord(
                    Kind.EMAIL,
                    f"<n{i}@bench>",
                    at,
                    Party("newsletter@contoso.com"),
                    bcc=rng.sample(externals, 60),
                    bulk=True,
                    is_list=True,
                )
            )
        elif roll < 0.9:
            organiser = rng.choice(colleagues)
            guests = rng.sample(everyone, rng.randint(1, 7))
            out.append(
                InteractionRecord(
                    Kind.MEETING,
                    f"ev{i}@bench",
                    at,
                    organiser,
                    attendees=[Attendee(p.email, p.name, rng.choice(RESPONSES)) for p in guests],
                    duration_seconds=1800,
                )
            )
        else:
            caller = rng.choice(everyone)
            callee = rng.choice(everyone)
            out.append(
                InteractionRecord(
                    Kind.CALL,
                    f"call:{i}",
                    at,
                    caller,
                    attendees=[Attendee(callee.email, callee.name, Response.ACCEPTED)],
                    duration_seconds=rng.choice([0, 45, 300, 900]),
                )
            )
    return out


def _interaction_rows(records: list[InteractionRecord]) -> list[tuple[Any, ...]]:
    return [
        (r.kind.value, r.source_key, r.occurred_at.replace(tzinfo=None).isoformat(" "),
         r.thread_key, r.parent_key, len(r.to) + len(r.cc) + len(r.attendees),
         r.automated, r.bulk, r.is_list, r.cancelled, r.duration_seconds, None, r.origin)
        for r in records
    ]  # fmt: skip


def baseline(engine: Engine, records: list[InteractionRecord], batch: int) -> float:
    """Seconds for a plain executemany of the interaction rows, one transaction per batch."""
    rows = _interaction_rows(records)
    sql = (
        "INSERT INTO interactions (kind, source_key, occurred_at, thread_key, parent_key, "
        "recipient_count, automated, bulk, is_list, cancelled, duration_seconds, subject, origin) "
        "VALUES ({})"
    )
    raw = engine.raw_connection()
    try:
        marks = "?" if engine.dialect.name == "sqlite" else "%s"
        stmt = sql.format(", ".join([marks] * 13))
        t0 = time.perf_counter()
        for i in range(0, len(rows), batch):
            cur = raw.cursor()
            cur.executemany(stmt, rows[i : i + batch])
            cur.close()
            raw.commit()
        return time.perf_counter() - t0
    finally:
        raw.close()


def timed_write(
    engine: Engine, records: list[InteractionRecord], batch: int, profile: cProfile.Profile | None
) -> tuple[float, float, dict[str, float]]:
    """Wall-clock and process CPU seconds of a whole import, and the Writer's phase timings."""
    writer = Writer(engine, internal_domains=["contoso.com"])
    t0, c0 = time.perf_counter(), time.process_time()
    if profile:
        profile.enable()
    stats = write_all(writer, records, batch)
    if profile:
        profile.disable()
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    assert stats.new_interactions == len(records), stats
    return elapsed, cpu, dict(writer.timings)


def run_backend(
    name: str, urls: list[str], records: list[InteractionRecord], batch: int, profiled: bool
) -> dict[str, Any]:
    """The timed import into urls[0], the baseline into urls[1], a profiled pass into urls[2]."""
    engine, base_engine, prof_engine = (create_store(u) for u in urls)
    profile = cProfile.Profile() if profiled else None
    try:
        elapsed, cpu, timings = timed_write(engine, records, batch, None)
        base = baseline(base_engine, records, batch)
        if profile is not None:
            timed_write(prof_engine, records[:PROFILED], batch, profile)
    finally:
        for e in (engine, base_engine, prof_engine):
            e.dispose()
    phases = dict(sorted(timings.items(), key=lambda kv: -kv[1]))
    phases["(outside the phases)"] = max(0.0, elapsed - sum(timings.values()))
    result: dict[str, Any] = {
        "backend": name,
        "interactions": len(records),
        "batch": batch,
        "seconds": round(elapsed, 3),
        "cpu_seconds": round(cpu, 3),
        "interactions_per_s": round(len(records) / elapsed),
        "baseline_per_s": round(len(records) / base),
        "ratio_to_baseline": round(base / elapsed, 3),
        "phases_s": {label: round(s, 3) for label, s in phases.items()},
    }
    if profile is not None:
        raw: dict[Any, Any] = pstats.Stats(profile).stats  # type: ignore[attr-defined]
        result["top_functions"] = [
            f"{func} ({Path(file).name}:{line}) {v[2]:.3f}s"
            for (file, line, func), v in sorted(raw.items(), key=lambda kv: -kv[1][2])[:12]
        ]
    return result


def write_mbox(path: Path, n: int, seed: int = 11) -> None:
    """An mbox of ``n`` plausible messages with ~2 KB bodies."""
    rng = random.Random(seed)
    body = ("Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 35 + "\n") * 1
    with path.open("w", encoding="utf-8") as out:
        for i in range(n):
            at = START + timedelta(minutes=7 * i)
            refs = f"References: <m{i - 1}@bench>\nIn-Reply-To: <m{i - 1}@bench>\n" if i % 2 else ""
            rcpts = ", ".join(
                f"P{j} <p{j}@company{j % 50}.example>"
                for j in rng.sample(range(500), rng.randint(1, 6))
            )
            out.write(
                f"From p{i % 500}@contoso.com {at:%a %b %d %H:%M:%S %Y}\n"
                f"Return-Path: <p{i % 500}@contoso.com>\n"
                f"Received: from mx.contoso.com by mail.contoso.com; {format_datetime(at)}\n"
                f"From: Person {i % 500} <p{i % 500}@contoso.com>\nTo: {rcpts}\n"
                f"Subject: Status update {i // 2}\nDate: {format_datetime(at)}\n"
                f"Message-ID: <m{i}@bench>\n{refs}MIME-Version: 1.0\n"
                f"Content-Type: text/plain; charset=utf-8\n\n{body}\n"
            )  # fmt: skip


def mbox_speed(n: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.mbox"
        write_mbox(path, n)
        size = path.stat().st_size
        t0 = time.perf_counter()
        parsed = sum(1 for item in read_mbox(path) if isinstance(item, InteractionRecord))
        ours = time.perf_counter() - t0
        assert parsed == n, parsed
        t0 = time.perf_counter()
        stdlib = 0
        for msg in mailbox.mbox(str(path)):  # the same fields, the standard library's way
            getaddresses(msg.get_all("From", []) + msg.get_all("To", []) + msg.get_all("Cc", []))
            parsedate_to_datetime(msg["Date"])
            stdlib += bool(msg["Message-ID"])
        theirs = time.perf_counter() - t0
        assert stdlib == n
    return {
        "messages": n,
        "megabytes": round(size / 1e6, 1),
        "messages_per_s": round(n / ours),
        "megabytes_per_s": round(size / 1e6 / ours, 1),
        "stdlib_mailbox_messages_per_s": round(n / theirs),
        "speedup_vs_stdlib": round(theirs / ours, 2),
    }


def order_tracking(records: list[InteractionRecord], batch: int) -> dict[str, Any]:
    """What noticing late messages costs a file import (SQLite, ``Importer``).

    The same records imported with the Writer's late-message lookup and with it
    stubbed out (the minimal alternative: what the importer did before), in time
    order and with the two halves swapped (a second mailbox holding the earlier
    half), alternating, best of two each. The swapped import also pays for the
    refresh at its end.
    """
    import signals.importers.run as run
    import signals.ingest as ingest

    half = len(records) // 2
    orders = {"in_time_order": records, "halves_swapped": records[half:] + records[:half]}

    def once(rows: list[InteractionRecord], tracked: bool) -> tuple[float, int]:
        with tempfile.TemporaryDirectory() as tmp:
            engine = create_store(f"sqlite:///{tmp}/order.db")
            importer = run.Importer(engine, internal_domains=["contoso.com"], batch_size=batch)
            with mock.patch.object(
                ingest, "_late", ingest._late if tracked else (lambda sql, new: [])
            ):
                t0 = time.perf_counter()
                for rec in rows:
                    importer.add(rec)
                report = importer.finish()
                elapsed = time.perf_counter() - t0
            engine.dispose()
        return elapsed, report.refreshed_pairs

    out: dict[str, Any] = {}
    for name, rows in orders.items():
        best = {True: math.inf, False: math.inf}
        refreshed = 0
        for _ in range(2):
            for tracked in (False, True):
                elapsed, pairs = once(rows, tracked)
                best[tracked] = min(best[tracked], elapsed)
                refreshed = pairs if tracked else refreshed
        out[name] = {
            "tracked_s": round(best[True], 3),
            "untracked_s": round(best[False], 3),
            "ratio": round(best[True] / best[False], 3),
            "refreshed_pairs": refreshed,
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=50_000, help="interactions to write")
    parser.add_argument(
        "--batch", type=int, default=None, help="records per transaction (default: the setting)"
    )
    parser.add_argument("--mbox", type=int, default=20_000, help="messages in the parse benchmark")
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    parser.add_argument("--profile", action="store_true", help="add a cProfile pass")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    batch = args.batch or settings.BATCH_SIZE.get()

    records = generate(args.n)
    results: list[dict[str, Any]] = []
    if args.only in (None, "sqlite"):
        with tempfile.TemporaryDirectory() as tmp:
            urls = [f"sqlite:///{tmp}/{n}.db" for n in ("bench", "baseline", "profiled")]
            results.append(run_backend("sqlite", urls, records, batch, args.profile))
    if args.only in (None, "postgresql"):
        tag = uuid.uuid4().hex[:8]
        names = [f"whoknows_bench_{kind}_{tag}" for kind in ("import", "base", "profiled")]
        try:
            urls = [pg.create(n) for n in names]
            results.append(run_backend("postgresql", urls, records, batch, args.profile))
        finally:
            for name in names:
                pg.drop(name)
    order = order_tracking(records, batch) if args.only in (None, "sqlite") else {}
    parse = mbox_speed(args.mbox)

    if args.json:
        print(
            json.dumps({"write": results, "order_tracking": order, "mbox_parse": parse}, indent=2)
        )
        return
    for r in results:
        print(
            f"{r['backend']:>10}: {r['interactions_per_s']:>7,} interactions/s "
            f"({r['interactions']:,} in {r['seconds']}s, batches of {r['batch']:,}, "
            f"process CPU {r['cpu_seconds']}s); plain executemany of the interaction rows "
            f"alone: {r['baseline_per_s']:,}/s; ratio {r['ratio_to_baseline']}"
        )
        print(f"{'':>12}where the time goes (wall-clock per Writer phase, same run):")
        for label, seconds in r["phases_s"].items():
            share = seconds / r["seconds"] if r["seconds"] else 0.0
            print(f"{'':>14}{label:<30} {seconds:>7.3f}s {share:>5.0%}")
        if "top_functions" in r:
            print(f"{'':>14}top functions by own time (cProfile, first {PROFILED:,} records):")
            for line in r["top_functions"]:
                print(f"{'':>16}{line}")
    for name, r in order.items():
        print(
            f"late-message check, {name.replace('_', ' ')} (SQLite, Importer): "
            f"{r['tracked_s']}s with, {r['untracked_s']}s without: x{r['ratio']}"
            f" ({r['refreshed_pairs']} pairs refreshed at the end)"
        )
    print(
        f"mbox parse: {parse['messages_per_s']:,} messages/s ({parse['megabytes_per_s']} MB/s, "
        f"{parse['messages']:,} messages, {parse['megabytes']} MB); stdlib mailbox.mbox: "
        f"{parse['stdlib_mailbox_messages_per_s']:,}/s (x{parse['speedup_vs_stdlib']})"
    )


if __name__ == "__main__":
    main()
