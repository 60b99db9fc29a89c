"""`whoknows sync` against a local Microsoft 365 (tests/graph_server.py), on both backends."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, event, func, select, update

from cli.main import main
from signals import db, stale
from signals.crm import CrmEntry, upsert_crm_entries
from signals.directory import upsert_people
from signals.graph import dataverse, leases, mapping
from signals.graph.auth import Credentials
from signals.graph.errors import LeaseLost
from signals.graph.rows import MessageRows
from signals.graph.sync import (
    MAILBOX,
    PageWrite,
    RunSummary,
    SyncConfig,
    SyncRunner,
    make_clients,
)
from signals.ingest import Writer
from signals.models import (
    Address,
    CrmRecord,
    GraphItem,
    Interaction,
    PairStrength,
    Participant,
    Person,
    SyncState,
)
from signals.records import InteractionRecord, Party
from signals.store import create_store
from tests.graph_server import (
    CLIENT_ID,
    CLIENT_SECRET,
    COLLEAGUES,
    NOW,
    TENANT,
    GraphServer,
    MailMaker,
    Tenant,
    running,
    sample_tenant,
)

IN_SCOPE = {"u-tricia", "u-bob", "u-alex"}
NEVER_READ = {"u-olivia", "u-finn", "u-guest"}


class Crash(BaseException):
    """Stands for the process dying: not an Exception, so nothing swallows it."""


class Ticker:
    """A clock that moves one second per reading: leases and windows without waiting."""

    def __init__(self, start: datetime = NOW) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
def server() -> Iterator[GraphServer]:
    with running(sample_tenant()) as srv:
        yield srv


@pytest.fixture
def ca(server: GraphServer, tmp_path: Path) -> str:
    return server.ca_file(tmp_path)


def _opt_out_olivia(engine: Engine) -> None:
    """Olivia opted out through the bot before the first sync."""
    upsert_people(engine, [mapping.directory_person(sample_tenant().users["u-olivia"])])
    with engine.begin() as conn:
        conn.execute(update(Person).where(Person.entra_id == "u-olivia").values(opted_out=True))


@pytest.fixture
def store(engine: Engine) -> Engine:
    _opt_out_olivia(engine)
    return engine


def config_for(server: GraphServer, **overrides: Any) -> SyncConfig:
    values: dict[str, Any] = dict(
        graph_url=server.graph_url,
        dataverse_url=server.dataverse_url,
        backfill_days=365,
        page_size=3,
        lease_seconds=600,
        parallel_mailboxes=4,
        excluded=("dept:Finance",),
        internal_domains=("contoso.com",),
    )
    values.update(overrides)
    return SyncConfig(**values)


def runner_for(
    engine: Engine,
    server: GraphServer,
    ca: str,
    *,
    clock: Ticker,
    owner: str = "worker-1",
    sleep: Sleeps | None = None,
    retry_budget: int = 8,
    **kwargs: Any,
) -> SyncRunner:
    creds = Credentials(
        client_id=CLIENT_ID,
        tenant_id=TENANT,
        client_secret=CLIENT_SECRET,
        login_url=server.base,
        ca_file=ca,
    )
    config = config_for(server)
    graph, crm = make_clients(creds, config, sleep=sleep or Sleeps())
    graph.retry_budget = retry_budget
    return SyncRunner(engine, graph, config, crm=crm, owner=owner, clock=clock, **kwargs)


async def run(runner: SyncRunner) -> RunSummary:
    try:
        return await runner.run_once()
    finally:
        await runner.graph.close()
        if runner.crm is not None:
            await runner.crm.close()


# -- the oracle: one import of the same data --------------------------------------------


def one_import(tenant: Tenant, now: datetime, tmp_path: Path) -> Engine:
    """A fresh store filled in one batch from the tenant's current data."""
    path = tmp_path / f"oracle-{len(list(tmp_path.glob('oracle-*')))}.db"
    engine = create_store(f"sqlite:///{path}")
    users = [u for u in tenant.users.values() if u.get("userType") != "Guest"]
    upsert_people(engine, [mapping.directory_person(u) for u in users])
    with engine.begin() as conn:
        conn.execute(update(Person).where(Person.entra_id == "u-olivia").values(opted_out=True))
        blocked = set(
            conn.execute(
                select(Address.email)
                .join(Person, Person.id == Address.person_id)
                .where(Person.entra_id.in_(["u-olivia", "u-finn"]))
            ).scalars()
        )
        people = {
            eid: Party(email, name)
            for eid, email, name in conn.execute(
                select(Person.entra_id, func.min(Address.email), Person.display_name)
                .join(Address, Address.person_id == Person.id)
                .group_by(Person.entra_id, Person.display_name)
            )
            if eid
        }
    email_of = {c.uid: c.email for c in COLLEAGUES}
    records: list[InteractionRecord | None] = []
    for (uid, _folder), folder in tenant.folders.items():
        if uid in IN_SCOPE:
            records += [
                mapping.message_record(m, mailbox=email_of[uid]) for m in folder.items.values()
            ]
    for uid, events in tenant.events.items():
        if uid in IN_SCOPE:
            records += [mapping.event_record(e, mailbox=email_of[uid], now=now) for e in events]
    records += [mapping.call_record(c, people) for c in tenant.calls]

    def private(rec: InteractionRecord | None) -> InteractionRecord | None:
        if rec is None or (rec.author and rec.author.email in blocked):
            return None
        rec.to = [p for p in rec.to if p.email not in blocked]
        rec.cc = [p for p in rec.cc if p.email not in blocked]
        rec.bcc = [p for p in rec.bcc if p.email not in blocked]
        rec.attendees = [a for a in rec.attendees if a.email not in blocked]
        return rec

    kept = [r for r in (private(r) for r in records) if r is not None]
    Writer(engine, internal_domains=tenant.domains, store_subjects=False).write(kept)
    entries: list[CrmEntry] = []
    for source, rows in (("lead", tenant.leads), ("contact", tenant.contacts)):
        entries += [e for e in (dataverse.crm_entry(source, r) for r in rows) if e]
    upsert_crm_entries(engine, entries)
    return engine


def dump(engine: Engine) -> dict[str, Any]:
    """The store's content, with ids replaced by addresses (comparable across stores)."""
    with engine.connect() as conn:
        key = dict(
            conn.execute(
                select(Address.person_id, func.min(Address.email)).group_by(Address.person_id)
            ).all()
        )
        people = {
            key[p.id]: (p.internal, p.display_name, p.opted_out, p.enabled, p.entra_id)
            for p in conn.execute(select(Person))
            if p.id in key
        }
        addresses = sorted((a.email, key[a.person_id]) for a in conn.execute(select(Address)))
        parts: dict[int, list[tuple[str, str, str]]] = {}
        for p in conn.execute(select(Participant)):
            parts.setdefault(p.interaction_id, []).append((key[p.person_id], p.role, p.response))
        interactions = {
            i.source_key: (
                i.kind,
                i.occurred_at,
                i.thread_key,
                i.parent_key,
                i.recipient_count,
                i.automated,
                i.bulk,
                i.is_list,
                i.cancelled,
                i.duration_seconds,
                sorted(parts.get(i.id, [])),
            )
            for i in conn.execute(select(Interaction))
        }
        pairs = {}
        for row in conn.execute(select(PairStrength)):
            values = row._asdict()
            ident = (key[values.pop("introducer_id")], key[values.pop("lead_id")])
            pairs[ident] = {
                k: round(v, 6) if isinstance(v, float) else v for k, v in values.items()
            }
        crm = {
            (r.source, r.crm_id): (r.full_name, r.email, r.company_name, key.get(r.person_id or -1))
            for r in conn.execute(select(CrmRecord))
        }
    return {
        "people": people,
        "addresses": addresses,
        "interactions": interactions,
        "pairs": pairs,
        "crm": crm,
    }


def assert_same_store(engine: Engine, server: GraphServer, now: datetime, tmp_path: Path) -> None:
    oracle = one_import(server.tenant, now, tmp_path)
    expected, actual = dump(oracle), dump(engine)
    oracle.dispose()
    for part in ("people", "addresses", "interactions", "crm", "pairs"):
        assert actual[part] == expected[part], part
    assert len(actual["interactions"]) > 30 and len(actual["pairs"]) > 5


def assert_privacy(server: GraphServer) -> None:
    mailboxes = {s.mailbox for s in server.served if s.mailbox}
    assert mailboxes == IN_SCOPE
    assert not server.violations


def _new_mail(server: GraphServer) -> None:
    """A week later: a reply in an old thread and a new thread with an answer."""
    maker = MailMaker(server.tenant)
    maker.n = 1000
    tricia = ("Tricia Potter", "tricia.potter@contoso.com")
    bob = ("Bob Kelly", "bob.kelly@contoso.com")
    lee = ("Lee Gu", "lee.gu@northwind.example")
    old_thread = server.tenant.folders[("u-tricia", "sentitems")].items
    first = next(iter(old_thread.values()))
    at = NOW + timedelta(days=1)
    _, copies = maker.message(
        ("Yvonne McKay", "yvonne.mckay@fourthcoffee.com"),
        [tricia],
        at,
        thread=first["conversationId"].removeprefix("conv-"),
        reply_to=first["internetMessageId"],
    )
    mid, more = maker.message(bob, [lee], at + timedelta(hours=1), cc=[tricia], thread="new")
    _, answer = maker.message(lee, [bob], at + timedelta(hours=2), thread="new", reply_to=mid)
    for uid, folder, item in [*copies, *more, *answer]:
        server.add_message(uid, folder, item)


# -- the tests ----------------------------------------------------------------------------


async def test_backfill_then_incremental_is_one_import(
    store: Engine, server: GraphServer, ca: str, tmp_path: Path
) -> None:
    clock = Ticker()
    first = await run(runner_for(store, server, ca, clock=clock))
    assert not first.errors, first.errors
    assert first.mailboxes == 3 and first.rebuilt and first.crm_records == 3
    assert_same_store(store, server, clock.now, tmp_path)
    assert_privacy(server)

    _new_mail(server)
    before = len(server.served)
    second = await run(runner_for(store, server, ca, clock=clock))
    assert not second.errors, second.errors
    assert second.new_interactions == 3
    incremental = server.served[before:]
    folder_requests = [s for s in incremental if "mailFolders" in s.path]
    assert folder_requests and all("$deltatoken" in s.query for s in folder_requests)
    assert_same_store(store, server, clock.now, tmp_path)
    assert max(server.max_in_flight.values()) <= 4


async def test_a_late_message_refreshes_only_what_it_changed(
    store: Engine, server: GraphServer, ca: str, tmp_path: Path
) -> None:
    """A message that lands after a later one of its thread (slow delivery, another
    mailbox) changes the thread credit of the later ones: the run recomputes those
    pairs, not the whole store, and ends as one chronological import would."""
    clock = Ticker()
    await run(runner_for(store, server, ca, clock=clock))
    _new_mail(server)  # a reply in Tricia's old thread, a day after NOW
    await run(runner_for(store, server, ca, clock=clock))
    maker = MailMaker(server.tenant)
    maker.n = 2000
    thread = next(iter(server.tenant.folders[("u-tricia", "sentitems")].items.values()))
    _, copies = maker.message(
        ("Bob Kelly", "bob.kelly@contoso.com"),
        [("Yvonne McKay", "yvonne.mckay@fourthcoffee.com")],
        NOW + timedelta(hours=12),
        thread=thread["conversationId"].removeprefix("conv-"),
    )
    for uid, folder, item in copies:
        server.add_message(uid, folder, item)
    late = await run(runner_for(store, server, ca, clock=clock))
    assert not late.errors, late.errors
    assert late.new_interactions == 1 and late.refreshed > 0 and not late.rebuilt
    with store.connect() as conn:
        assert (conn.scalar(select(func.count()).select_from(PairStrength)) or 0) > late.refreshed
    assert_same_store(store, server, clock.now, tmp_path)


@pytest.mark.parametrize("how", ["exception", "cancel"])
async def test_killed_midway_loses_and_duplicates_nothing(
    store: Engine, server: GraphServer, ca: str, tmp_path: Path, how: str
) -> None:
    clock = Ticker()
    pages = 0

    def die(_source: str, _scope: str, _n: int) -> None:
        nonlocal pages
        pages += 1
        if pages == 7:
            if how == "cancel":
                task = asyncio.current_task()
                assert task is not None
                task.cancel()
            else:
                raise Crash

    runner = runner_for(store, server, ca, clock=clock, on_page=die)
    with pytest.raises(Crash if how == "exception" else asyncio.CancelledError):
        await run(runner)
    with store.connect() as conn:
        partial = conn.scalar(select(func.count()).select_from(Interaction))
        unfinished = conn.scalar(
            select(func.count())
            .select_from(SyncState)
            .where(SyncState.source == MAILBOX, SyncState.last_success_at.is_(None))
        )
    assert partial and unfinished  # it stopped in the middle

    again = await run(runner_for(store, server, ca, clock=clock, owner="worker-2"))
    assert not again.errors, again.errors
    assert_same_store(store, server, clock.now, tmp_path)


async def test_dead_workers_lease_lapses(
    store: Engine, server: GraphServer, ca: str, tmp_path: Path
) -> None:
    clock = Ticker()
    await run(runner_for(store, server, ca, clock=clock))  # directory and mailbox rows exist
    with store.begin() as conn:
        conn.execute(update(SyncState).values(last_success_at=None))
    dead = leases.claim(
        store,
        MAILBOX,
        owner="dead",
        now=clock(),
        lease_seconds=600,
        mailboxes=leases.MailboxFilter(),
    )
    assert dead is not None
    soon = await run(runner_for(store, server, ca, clock=clock, owner="alive"))
    assert soon.mailboxes == 2  # the dead worker's mailbox is still leased
    clock.now += timedelta(seconds=601)
    later = await run(runner_for(store, server, ca, clock=clock, owner="alive"))
    assert later.mailboxes == 3


async def test_throttling_storm_is_survived_within_the_budget(
    store: Engine, server: GraphServer, ca: str, tmp_path: Path
) -> None:
    server.throttle_next = 6
    server.retry_after = None  # no Retry-After: exponential backoff with jitter
    sleeps = Sleeps()
    clock = Ticker()
    summary = await run(runner_for(store, server, ca, clock=clock, sleep=sleeps))
    assert not summary.errors, summary.errors
    assert summary.throttled == 6
    assert sleeps.delays and all(0 <= d <= 2**6 for d in sleeps.delays)
    assert_same_store(store, server, clock.now, tmp_path)


async def test_retry_after_is_honoured(store: Engine, server: GraphServer, ca: str) -> None:
    server.throttle_next = 3
    server.throttle_status = 503
    server.retry_after = "7"
    sleeps = Sleeps()
    summary = await run(runner_for(store, server, ca, clock=Ticker(), sleep=sleeps))
    assert not summary.errors
    assert sleeps.delays == [7.0, 7.0, 7.0]


async def test_exhausted_budget_is_a_clear_error_and_keeps_progress(
    store: Engine, server: GraphServer, ca: str, tmp_path: Path
) -> None:
    clock = Ticker()
    pages = 0

    def storm_after_some_pages(_source: str, _scope: str, _n: int) -> None:
        nonlocal pages
        pages += 1
        if pages == 5:
            server.throttle_next = 10_000

    summary = await run(
        runner_for(store, server, ca, clock=clock, retry_budget=2, on_page=storm_after_some_pages)
    )
    assert summary.errors
    assert any("gave up" in e and "progress so far is kept" in e for e in summary.errors)
    with store.connect() as conn:
        errors = conn.scalars(select(SyncState.last_error).where(SyncState.last_error.is_not(None)))
        assert any("RetryBudgetExhausted" in (e or "") for e in errors)
        kept = conn.scalar(select(func.count()).select_from(Interaction))
    assert kept
    server.throttle_next = 0
    at_once = await run(runner_for(store, server, ca, clock=clock))
    assert at_once.backing_off  # failed mailboxes wait for their retry time
    assert "waiting to retry" in at_once.line()
    clock.now += timedelta(hours=2)  # past the longest backoff
    again = await run(runner_for(store, server, ca, clock=clock))
    assert not again.errors, again.errors
    assert_same_store(store, server, clock.now, tmp_path)


async def test_expired_delta_token_restarts_without_duplicates(
    store: Engine, server: GraphServer, ca: str, tmp_path: Path
) -> None:
    clock = Ticker()
    await run(runner_for(store, server, ca, clock=clock))
    server.expire_delta_tokens()
    _new_mail(server)
    before = len(server.served)
    summary = await run(runner_for(store, server, ca, clock=clock))
    assert not summary.errors, summary.errors
    assert summary.new_interactions == 3 and summary.duplicates > 0
    assert any(s.status == 410 for s in server.served[before:])
    assert not summary.rebuilt  # re-reading known mail leaves the aggregates as they are
    assert_same_store(store, server, clock.now, tmp_path)


async def test_removed_items_leave_the_store(
    store: Engine, server: GraphServer, ca: str, tmp_path: Path
) -> None:
    clock = Ticker()
    await run(runner_for(store, server, ca, clock=clock))
    tenant = server.tenant
    # A message held only in one inbox: it goes. One held in two mailboxes: it stays.
    copies: dict[str, list[tuple[str, str, str]]] = {}
    for (uid, folder), f in tenant.folders.items():
        if uid in IN_SCOPE:
            for item in f.items.values():
                copies.setdefault(item["internetMessageId"], []).append((uid, folder, item["id"]))
    single = next(k for k, v in copies.items() if len(v) == 1 and v[0][1] == "inbox")
    double = next(k for k, v in copies.items() if len(v) == 2)
    server.remove_message(*copies[single][0])
    server.remove_message(*copies[double][0])
    summary = await run(runner_for(store, server, ca, clock=clock))
    assert not summary.errors, summary.errors
    assert summary.removed == 1 and summary.refreshed > 0 and not summary.rebuilt
    with store.connect() as conn:
        keys = set(conn.scalars(select(Interaction.source_key)))
    assert single not in keys and double in keys
    assert_same_store(store, server, clock.now, tmp_path)


async def test_two_workers_never_sync_one_mailbox_at_once(
    store: Engine, store_url: str, server: GraphServer, ca: str, tmp_path: Path
) -> None:
    server.latency = 0.002  # lets the two workers' requests interleave
    clock = Ticker()
    other = db.open_store(store_url)
    try:
        one = runner_for(store, server, ca, clock=clock, owner="worker-A")
        two = runner_for(other, server, ca, clock=clock, owner="worker-B")
        a, b = await asyncio.gather(run(one), run(two))
    finally:
        other.dispose()
    assert not a.errors and not b.errors, (a.errors, b.errors)
    assert a.mailboxes + b.mailboxes == 3
    workers_per_mailbox: dict[str, set[str]] = {}
    for s in server.served:
        if s.mailbox:
            workers_per_mailbox.setdefault(s.mailbox, set()).add(s.worker)
    assert set(workers_per_mailbox) == IN_SCOPE
    assert all(len(w) == 1 for w in workers_per_mailbox.values()), workers_per_mailbox
    first_requests = [
        (s.mailbox, s.path)
        for s in server.served
        if "mailFolders" in s.path and "$select" in s.query
    ]
    assert sorted(first_requests) == sorted(set(first_requests))  # each folder started once
    assert len(first_requests) == 2 * len(IN_SCOPE)
    assert max(server.max_in_flight[m] for m in IN_SCOPE) <= 4
    assert_same_store(store, server, clock.now, tmp_path)


async def test_tokens_come_from_the_cache(store: Engine, server: GraphServer, ca: str) -> None:
    await run(runner_for(store, server, ca, clock=Ticker()))
    scopes = sorted(r["scope"] for r in server.token_requests)
    assert scopes == [f"{server.base}/.default", f"{server.dataverse_url}/.default"]


async def test_call_records_are_skipped_when_not_permitted(
    store: Engine, server: GraphServer, ca: str
) -> None:
    server.calls_forbidden = True
    summary = await run(runner_for(store, server, ca, clock=Ticker()))
    assert not summary.errors
    assert summary.skipped == ["calls: not permitted (Forbidden)"]
    with store.connect() as conn:
        assert conn.scalar(select(func.count()).where(Interaction.kind == "call")) == 0


def test_cli_sync_once_fills_the_store(
    server: GraphServer, ca: str, sqlite_url: str, tmp_path: Path
) -> None:
    env = {
        "WHOKNOWS_GRAPH_URL": server.graph_url,
        "WHOKNOWS_LOGIN_URL": server.base,
        "WHOKNOWS_GRAPH_CA_FILE": ca,
        "WHOKNOWS_DATAVERSE_URL": server.dataverse_url,
        "WHOKNOWS_EXCLUDED_PEOPLE": "dept:Finance",
        # The bot's own identity is the default credential.
        "MicrosoftAppId": CLIENT_ID,
        "MicrosoftAppPassword": CLIENT_SECRET,
        "MicrosoftAppTenantId": TENANT,
    }
    runner = CliRunner()
    result = runner.invoke(
        main, ["sync", "--once", "--backfill-days", "3650", "--db", sqlite_url], env=env
    )
    assert result.exit_code == 0, result.output
    assert "mailboxes 4, new interactions" in result.output
    engine = db.open_store(sqlite_url)
    with engine.connect() as conn:
        assert (conn.scalar(select(func.count()).select_from(Interaction)) or 0) > 30
        assert (conn.scalar(select(func.count()).select_from(PairStrength)) or 0) > 5
    engine.dispose()
    status = runner.invoke(main, ["sync", "--status", "--db", sqlite_url], env=env)
    assert status.exit_code == 0, status.output
    assert "mail:inbox" in status.output and "4 mailboxes" in status.output
    assert "connections to recompute" not in status.output
    with engine.begin() as conn:  # a removal marked, its run not finished
        stale.mark(conn, conn.execute(select(Interaction.id).limit(3)).scalars())
    engine.dispose()
    waiting = runner.invoke(main, ["sync", "--status", "--db", sqlite_url], env=env)
    assert "connections to recompute:" in waiting.output and "pairs" in waiting.output
    assert {s.mailbox for s in server.served if s.mailbox} == IN_SCOPE | {"u-olivia"}
    # The answer the bot gives comes from the synced store.
    asked = runner.invoke(main, ["ask", "who knows Yvonne McKay", "--json", "--db", sqlite_url])
    assert asked.exit_code == 0, asked.output
    answer = json.loads(asked.output)
    assert answer["lead"]["name"] == "Yvonne McKay"
    named = [c["name"] for c in answer["colleagues"]]
    assert named and "Finn Finance" not in named


def test_cli_sync_without_credentials_says_what_to_set(sqlite_url: str) -> None:
    result = CliRunner().invoke(
        main, ["sync", "--once", "--backfill-days", "3650", "--db", sqlite_url]
    )
    assert result.exit_code == 1
    assert "WHOKNOWS_GRAPH_CLIENT_ID" in result.output


async def test_pages_that_wait_together_share_a_transaction_each_with_its_link(
    store: Engine, server: GraphServer, ca: str
) -> None:
    """Mail pages that queue while the database is busy (other folders, other mailboxes)
    are written in one transaction, each with its own link and lease; a message two
    pages carry counts for the first. A page that may not be written (its mailbox was
    taken over meanwhile) fails alone: the others still commit."""
    runner = runner_for(store, server, ca, clock=Ticker())
    lee = ("Lee Gu", "lee.gu@northwind.example")
    people = {c.uid: (c.name, c.email) for c in COLLEAGUES}
    maker = MailMaker(server.tenant)
    with store.begin() as conn:
        leases.ensure_rows(conn, MAILBOX, ["u-tricia", "u-bob"])
        conn.execute(
            update(SyncState)
            .where(SyncState.source == MAILBOX)
            .values(lease_owner="worker-1", lease_expires_at=NOW + timedelta(days=1))
        )
        lease_of = dict(
            conn.execute(
                select(SyncState.scope, SyncState.id).where(SyncState.source == MAILBOX)
            ).all()
        )

    def mail(
        sender: tuple[str, str], to: list[tuple[str, str]], n: int
    ) -> dict[tuple[str, str], dict[str, Any]]:
        """The copies of one message, by (mailbox, folder)."""
        _, copies = maker.message(sender, to, NOW - timedelta(days=n), thread=f"g{n}")
        return {(uid, folder): item for uid, folder, item in copies}

    def page(uid: str, folder: str, items: list[dict[str, Any]], link: str) -> Any:
        rows = MessageRows([])
        for item in items:
            rec = mapping.message_record(item, mailbox=people[uid][1])
            assert rec is not None
            rows.records.append(rec)
            rows.item_keys[f"{uid}/{item['id']}"] = rec.source_key
        place = runner._place(f"mail:{folder}", uid)
        return rows, PageWrite(place, lease_of[uid], {"next_link": link}, len(items), False)

    async def together(pages: list[Any]) -> list[int | BaseException]:
        """Commit the pages while the worker's database work is busy, then let it go."""
        async with runner._write_lock:
            tasks = [asyncio.create_task(runner._commit(rows, step)) for rows, step in pages]
            await asyncio.sleep(0)  # one turn of the loop: every page is queued
            assert len(runner._queue) == len(pages)
        return list(await asyncio.gather(*tasks, return_exceptions=True))

    def stored() -> tuple[set[str], dict[tuple[str, str], str | None], int]:
        with store.connect() as conn:
            keys = set(conn.execute(select(Interaction.source_key)).scalars())
            links = {
                (s, scope): link
                for s, scope, link in conn.execute(
                    select(SyncState.source, SyncState.scope, SyncState.next_link)
                )
            }
            items = conn.scalar(select(func.count()).select_from(GraphItem)) or 0
        return keys, links, items

    try:
        await runner._load_privacy(new_writer=True)
        tricia, bob = people["u-tricia"], people["u-bob"]
        first, shared, second = (
            mail(lee, [tricia], 1),
            mail(lee, [tricia, bob], 2),
            mail(lee, [bob], 3),
        )
        sent = mail(tricia, [lee], 4)
        commits: list[object] = []

        def count(_conn: object) -> None:
            commits.append(_conn)

        pages = [
            page(
                "u-tricia",
                "inbox",
                [first[("u-tricia", "inbox")], shared[("u-tricia", "inbox")]],
                "t1",
            ),
            page("u-bob", "inbox", [shared[("u-bob", "inbox")], second[("u-bob", "inbox")]], "b1"),
            page("u-tricia", "sentitems", [sent[("u-tricia", "sentitems")]], "s1"),
        ]
        event.listen(store, "commit", count)
        try:
            counts = await together(pages)
        finally:
            event.remove(store, "commit", count)
        assert counts == [2, 1, 1]
        assert len(commits) == 1  # one transaction for the three pages
        keys, links, items = stored()
        assert len(keys) == 4 and items == 5
        assert links[("mail:inbox", "u-tricia")] == "t1"
        assert links[("mail:inbox", "u-bob")] == "b1"
        assert links[("mail:sentitems", "u-tricia")] == "s1"

        later, lost = mail(lee, [tricia], 5), mail(lee, [bob], 6)
        with store.begin() as conn:  # another worker took Bob's mailbox over
            conn.execute(
                update(SyncState)
                .where(SyncState.id == lease_of["u-bob"])
                .values(lease_owner="worker-2")
            )
        outcomes = await together(
            [
                page("u-tricia", "inbox", [later[("u-tricia", "inbox")]], "t2"),
                page("u-bob", "inbox", [lost[("u-bob", "inbox")]], "b2"),
            ]
        )
        assert outcomes[0] == 1 and isinstance(outcomes[1], LeaseLost)
        after, links, _ = stored()
        assert len(after - keys) == 1
        assert links[("mail:inbox", "u-tricia")] == "t2"
        assert links[("mail:inbox", "u-bob")] == "b1"  # Bob's page and its link: neither
    finally:
        await runner.graph.close()
        if runner.crm is not None:
            await runner.crm.close()
