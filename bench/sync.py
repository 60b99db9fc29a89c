"""Sync throughput: the real `whoknows sync` against a local Graph serving many mailboxes.

Generates a tenant of ``--mailboxes`` colleagues with ``--messages`` messages each (half
sent to outside contacts, half received from them, in threads), serves it with the test
suite's Graph stand-in (tests/graph_server.py: TLS, delta links, pages as large as
``odata.maxpagesize`` asks within Graph's limits), and syncs it into a fresh PostgreSQL
database with one worker process, then into another with two worker processes sharing
the tenant through leases. Each worker is its own
process, so its peak memory (max RSS) is its own. Beside it, the import path's rate:
the same messages mapped to records and written with ``signals.ingest.Writer``.

Prints messages per second (all messages read, over the wall time of the run, the
first back-fill's closing rebuild included) and each worker's peak RSS; then what a
second one-worker run costs when nothing is new (visiting each mailbox, per mailbox).

Usage: python bench/sync.py [--mailboxes 200] [--messages 5000] [--page-size 100] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import postgres as pg
from signals.directory import upsert_people
from signals.graph import mapping
from signals.graph.auth import Credentials
from signals.graph.sync import SyncConfig, SyncRunner, make_clients
from signals.ingest import Writer
from signals.store import create_store
from tests.graph_server import CLIENT_ID, CLIENT_SECRET, TENANT, Folder, GraphServer, Tenant

DOMAIN = "contoso.com"
NOW = datetime.now(UTC).replace(microsecond=0)
EXTERNALS = 2000


def _address(name: str, email: str) -> dict[str, Any]:
    return {"emailAddress": {"name": name, "address": email}}


def tenant(mailboxes: int, messages: int, seed: int = 5) -> Tenant:
    """Colleagues ``u-0``..; each mailbox's messages in threads of two with outsiders."""
    rng = random.Random(seed)
    t = Tenant(domains=[DOMAIN])
    outsiders = [(f"Contact {i}", f"contact{i}@firm{i % 300}.example") for i in range(EXTERNALS)]
    for k in range(mailboxes):
        uid, name, email = f"u-{k}", f"Colleague {k}", f"colleague{k}@{DOMAIN}"
        t.users[uid] = {
            "id": uid,
            "displayName": name,
            "mail": email,
            "userPrincipalName": email,
            "proxyAddresses": [f"SMTP:{email}"],
            "accountEnabled": True,
            "department": "Sales",
            "userType": "Member",
        }
        inbox, sent = Folder(), Folder()
        me = (name, email)
        for n in range(messages):
            other = outsiders[rng.randrange(EXTERNALS)]
            at = NOW - timedelta(days=300 * (messages - n) / messages, minutes=rng.randint(0, 90))
            thread = f"{k}-{n // 2}"
            outgoing = n % 2 == 0
            sender, to = (me, [other]) if outgoing else (other, [me])
            mid = f"<m{k}.{n}@mail.example>"
            item: dict[str, Any] = {
                "id": f"AAMk-{k}-{n}",
                "internetMessageId": mid,
                "conversationId": f"conv-{thread}",
                "from": _address(*sender),
                "sender": _address(*sender),
                "toRecipients": [_address(*p) for p in to],
                "ccRecipients": [],
                "bccRecipients": [],
                "sentDateTime": _iso(at),
                "receivedDateTime": _iso(at + timedelta(seconds=5)),
                "isDraft": False,
                "meetingMessageType": "none",
                "inferenceClassification": "focused",
                "internetMessageHeaders": [{"name": "Message-ID", "value": mid}],
            }
            (sent if outgoing else inbox).items[f"AAMk-{k}-{n}"] = item
        t.folders[(uid, "inbox")] = inbox
        t.folders[(uid, "sentitems")] = sent
    return t


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _config(graph_url: str, page_size: int) -> SyncConfig:
    return SyncConfig(
        graph_url=graph_url,
        backfill_days=400,
        page_size=page_size,
        call_records=False,
        internal_domains=(DOMAIN,),
        parallel_mailboxes=8,
    )


async def _work(args: argparse.Namespace) -> dict[str, Any]:
    """One worker process: a full sync run against the served tenant."""
    from signals import db

    engine = db.open_store(args.db)
    creds = Credentials(
        client_id=CLIENT_ID,
        tenant_id=TENANT,
        client_secret=CLIENT_SECRET,
        login_url=args.login,
        ca_file=args.ca,
    )
    config = _config(args.graph, args.page_size)
    config.poll_seconds = 0.2
    graph, _ = make_clients(creds, config)
    started = time.perf_counter()
    try:
        summary = await SyncRunner(engine, graph, config, owner=args.owner).run_once()
    finally:
        await graph.close()
        engine.dispose()
    return {
        "seconds": time.perf_counter() - started,
        "mailboxes": summary.mailboxes,
        "new": summary.new_interactions,
        "errors": summary.errors,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _sync_with(workers: int, server: GraphServer, ca: str, page_size: int) -> dict[str, Any]:
    name = f"whoknows_bench_sync_{uuid.uuid4().hex[:8]}"
    url = pg.create(name)
    try:
        create_store(url).dispose()

        def command(i: int) -> list[str]:
            return [
                sys.executable,
                __file__,
                "--worker",
                "--db",
                url,
                "--graph",
                server.graph_url,
                "--login",
                server.base,
                "--ca",
                ca,
                "--owner",
                f"bench-{i}",
                "--page-size",
                str(page_size),
            ]

        started = time.perf_counter()
        procs = [
            subprocess.Popen(command(i), stdout=subprocess.PIPE, text=True) for i in range(workers)
        ]
        results = [json.loads(p.communicate()[0]) for p in procs]
        seconds = time.perf_counter() - started
        again = None
        if workers == 1:  # a run with nothing new: what visiting every mailbox costs
            again = json.loads(subprocess.run(command(0), stdout=subprocess.PIPE, text=True).stdout)
    finally:
        pg.drop(name)
    return {"workers": workers, "seconds": seconds, "each": results, "again": again}


def _import_rate(t: Tenant) -> dict[str, Any]:
    """The same messages through the import path (Writer) into a fresh PostgreSQL store."""
    name = f"whoknows_bench_syncimp_{uuid.uuid4().hex[:8]}"
    url = pg.create(name)
    try:
        engine = create_store(url)
        upsert_people(engine, [mapping.directory_person(u) for u in t.users.values()])
        records = []
        for (uid, _folder), folder in t.folders.items():
            email = t.users[uid]["mail"]
            records += [mapping.message_record(m, mailbox=email) for m in folder.items.values()]
        kept = [r for r in records if r is not None]
        writer = Writer(engine, internal_domains=[DOMAIN])
        started = time.perf_counter()
        for i in range(0, len(kept), 1000):
            writer.write(kept[i : i + 1000])
        seconds = time.perf_counter() - started
        engine.dispose()
    finally:
        pg.drop(name)
    return {"messages": len(kept), "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mailboxes", type=int, default=200)
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    for hidden in ("--db", "--graph", "--login", "--ca", "--owner"):
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(asyncio.run(_work(args))))
        return

    t = tenant(args.mailboxes, args.messages)
    total = sum(len(f.items) for f in t.folders.values())
    server = GraphServer(t)
    server.page_size = 10**9  # pages as large as the sync asks, within Graph's limits
    server.start()
    out: dict[str, Any] = {"mailboxes": args.mailboxes, "messages": total}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            ca = server.ca_file(tmp)
            out["sync"] = [_sync_with(n, server, ca, args.page_size) for n in (1, 2)]
    finally:
        server.stop()
    out["import"] = _import_rate(t)
    if args.json:
        print(json.dumps(out, indent=2))
        return
    print(f"{args.mailboxes} mailboxes x {args.messages} messages = {total} messages (PostgreSQL)")
    for run in out["sync"]:
        rate = total / run["seconds"]
        peaks = ", ".join(f"{w['peak_rss_mb']:.0f} MB" for w in run["each"])
        errors = sum(len(w["errors"]) for w in run["each"])
        print(
            f"  sync, {run['workers']} worker(s): {rate:,.0f} messages/s "
            f"({run['seconds']:.1f} s; peak RSS {peaks}; errors {errors})"
        )
    again = out["sync"][0]["again"]
    if again:
        print(
            f"  a second run, nothing new: {again['seconds']:.1f} s for {args.mailboxes} mailboxes"
            f" ({1000 * again['seconds'] / args.mailboxes:.0f} ms per mailbox)"
        )
    imp = out["import"]
    print(
        f"  import path (Writer): {imp['messages'] / imp['seconds']:,.0f} messages/s "
        f"({imp['seconds']:.1f} s)"
    )


if __name__ == "__main__":
    main()
