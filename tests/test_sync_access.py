"""Who may ask and who is analysed, as the sync learns it from the local Microsoft 365
(tests/graph_server.py), on both backends: guests, allowed groups (transitive, paged,
changing), excluded groups (never read, never proposed, data gone at the next sync), and
groups Graph won't show."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import Engine, func, or_, select
from sqlalchemy.orm import Session

from bot.auth import AuthConfig
from bot.conversation import WhoKnowsBot
from bot.hosting import BotHost
from bot.server import create_app
from cards import texts
from scoring.answer import ask, lead_by_id
from signals.graph.auth import Credentials
from signals.graph.sync import RunSummary, SyncRunner, make_clients
from signals.models import (
    AuditEntry,
    GroupMember,
    PairStrength,
    Participant,
    Person,
)
from tests import teams
from tests.connector import Connector
from tests.graph_server import (
    CLIENT_ID,
    CLIENT_SECRET,
    NOW,
    TENANT,
    GraphServer,
    MailMaker,
    running,
    sample_tenant,
)
from tests.test_sync import Sleeps, Ticker, config_for, run

SALES = "5a1e5000-0000-4000-8000-000000000001"
NESTED = "5a1e5000-0000-4000-8000-000000000002"
INNER = "5a1e5000-0000-4000-8000-000000000003"
LEGAL = "1e6a1000-0000-4000-8000-000000000004"
Client = TestClient[web.Request, web.Application]
CLOCK = Ticker()  # one clock for every run: each later run reads what changed since


@pytest.fixture
def server() -> Iterator[GraphServer]:
    tenant = sample_tenant()
    # Sales holds Tricia, a device and Nested; Nested holds Bob and Inner; Inner holds
    # Finn and Tricia again (and Nested: a cycle). Legal holds Alex.
    tenant.groups = {
        SALES: ["u-tricia", "device-1", NESTED],
        NESTED: ["u-bob", INNER],
        INNER: ["u-finn", "u-tricia", NESTED],
        LEGAL: ["u-alex"],
    }
    with running(tenant) as srv:
        yield srv


def runner(engine: Engine, server: GraphServer, tmp_path: Path, **config: Any) -> SyncRunner:
    creds = Credentials(
        client_id=CLIENT_ID,
        tenant_id=TENANT,
        client_secret=CLIENT_SECRET,
        login_url=server.base,
        ca_file=server.ca_file(tmp_path),
    )
    settings = config_for(server, **config)
    graph, crm = make_clients(creds, settings, sleep=Sleeps())
    return SyncRunner(engine, graph, settings, crm=crm, clock=CLOCK)


async def sync(engine: Engine, server: GraphServer, tmp_path: Path, **config: Any) -> RunSummary:
    return await run(runner(engine, server, tmp_path, **config))


def members(engine: Engine, group: str) -> set[str]:
    with Session(engine) as session:
        return set(
            session.scalars(
                select(Person.entra_id)
                .join(GroupMember, GroupMember.person_id == Person.id)
                .where(GroupMember.group_id == group)
            )
        )


def person(session: Session, entra_id: str) -> Person:
    return session.scalars(select(Person).where(Person.entra_id == entra_id)).one()


@pytest.fixture
async def bot_client(engine: Engine) -> AsyncIterator[Client]:
    bot = WhoKnowsBot(engine, dev_mode=True)
    client = TestClient(TestServer(create_app(bot, host=BotHost(bot, AuthConfig()))))
    await client.start_server()
    yield client
    await client.close()


async def ask_as(client: Client, connector: Connector, entra_id: str) -> str:
    """`who knows Yvonne McKay` from the Teams user with this Entra id: the card's text."""
    before = len(connector.records)
    sender = {"id": f"29:{entra_id}", "name": entra_id, "aadObjectId": entra_id}
    body = teams.message("who knows Yvonne McKay", service_url=connector.service_url, sender=sender)
    assert (await client.post("/api/messages", json=body)).status == 200
    [reply] = connector.records[before:]
    return str(reply.cards[0])


async def test_a_colleague_turned_guest_may_no_longer_ask(
    engine: Engine, server: GraphServer, tmp_path: Path, bot_client: Client, connector: Connector
) -> None:
    """Entra's userType comes with the directory: a member who becomes a guest is a guest
    in the store (never proposed, never asking); the tenant's own guest never is a colleague."""
    await sync(engine, server, tmp_path)
    assert "Tricia Potter" in await ask_as(bot_client, connector, "u-bob")
    assert texts.NO_ACCESS_TITLE in await ask_as(bot_client, connector, "u-guest")
    server.change_user("u-bob", userType="Guest")
    await sync(engine, server, tmp_path)
    with Session(engine) as session:
        bob = person(session, "u-bob")
        assert (bob.guest, bob.enabled) == (True, False)
        assert session.scalar(select(Person).where(Person.entra_id == "u-guest")) is None
    assert texts.NO_ACCESS_TITLE in await ask_as(bot_client, connector, "u-bob")
    server.change_user("u-bob", userType="Member")
    await sync(engine, server, tmp_path)
    assert "Tricia Potter" in await ask_as(bot_client, connector, "u-bob")


async def test_allowed_groups_transitive_paged_and_kept_current(
    engine: Engine,
    server: GraphServer,
    tmp_path: Path,
    bot_client: Client,
    connector: Connector,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    summary = await sync(engine, server, tmp_path, allowed_groups=(f" {SALES.upper()}",))
    assert summary.skipped == [] and summary.errors == []
    assert members(engine, SALES) == {"u-tricia", "u-bob", "u-finn"}  # nested, once each
    pages = server.requests_for(f"groups/{SALES}/transitiveMembers")
    assert len(pages) == 2 and "$skiptoken" in pages[1].query  # six members, three a page
    monkeypatch.setenv("WHOKNOWS_ALLOWED_GROUPS", SALES.upper())  # as the portal shows it
    assert "Tricia Potter" in await ask_as(bot_client, connector, "u-bob")  # nested member
    assert texts.NO_ACCESS_TITLE in await ask_as(bot_client, connector, "u-alex")  # outside
    server.tenant.groups[NESTED] = [INNER]  # Bob leaves; Alex joins Sales directly
    server.tenant.groups[SALES].append("u-alex")
    await sync(engine, server, tmp_path, allowed_groups=(SALES,))
    assert members(engine, SALES) == {"u-tricia", "u-finn", "u-alex"}
    assert texts.NO_ACCESS_TITLE in await ask_as(bot_client, connector, "u-bob")
    assert "Tricia Potter" in await ask_as(bot_client, connector, "u-alex")


async def test_unreadable_groups_keep_their_last_members(
    engine: Engine, server: GraphServer, tmp_path: Path
) -> None:
    await sync(engine, server, tmp_path, allowed_groups=(SALES,), excluded_groups=(LEGAL,))
    server.groups_forbidden = True
    server.tenant.groups[SALES] = []
    summary = await sync(
        engine, server, tmp_path, allowed_groups=(SALES, "not-a-group"), excluded_groups=(LEGAL,)
    )
    assert any("GroupMember.Read.All" in s and SALES in s for s in summary.skipped)
    assert any("not-a-group" in s for s in summary.skipped)
    assert members(engine, SALES) == {"u-tricia", "u-bob", "u-finn"}
    with Session(engine) as session:
        assert person(session, "u-alex").excluded
    server.groups_forbidden = False
    await sync(engine, server, tmp_path)  # no group named any more: nobody kept or excluded
    assert members(engine, SALES) == members(engine, LEGAL) == set()
    with Session(engine) as session:
        assert not person(session, "u-alex").excluded


def _alex_data(session: Session) -> tuple[int, int]:
    alex = person(session, "u-alex").id
    took_part = session.scalar(
        select(func.count()).select_from(Participant).where(Participant.person_id == alex)
    )
    pairs = session.scalar(
        select(func.count())
        .select_from(PairStrength)
        .where(or_(PairStrength.introducer_id == alex, PairStrength.lead_id == alex))
    )
    return int(took_part or 0), int(pairs or 0)


async def test_an_excluded_group_is_never_read_nor_proposed_and_its_data_goes(
    engine: Engine, server: GraphServer, tmp_path: Path
) -> None:
    await sync(engine, server, tmp_path)
    with Session(engine) as session:
        took_part, pairs = _alex_data(session)
        assert took_part > 0 and pairs > 0
        alex = person(session, "u-alex")
        leads = list(
            session.scalars(
                select(PairStrength.lead_id).where(PairStrength.introducer_id == alex.id)
            )
        )
        lead = lead_by_id(session, "person", leads[0])
        assert lead is not None
        before = ask(session, lead.name, choice=lead)
        assert alex.id in {c.person.id for c in before.colleagues}
    # New mail in Alex's mailbox, then Alex's group is excluded.
    maker = MailMaker(server.tenant)
    maker.n = 1000
    _, copies = maker.message(
        ("Alex Wilber", "alex.wilber@contoso.com"),
        [("Yvonne McKay", "yvonne.mckay@fourthcoffee.com")],
        NOW - timedelta(days=1),
        thread="late",
    )
    for uid, folder, item in copies:
        server.add_message(uid, folder, item)
    served = len(server.served)
    summary = await sync(engine, server, tmp_path, excluded_groups=(LEGAL,))
    assert summary.skipped == []
    assert not [s for s in server.served[served:] if s.mailbox == "u-alex"]
    with Session(engine) as session:
        assert person(session, "u-alex").excluded
        assert _alex_data(session) == (0, 0)
        assert person(session, "u-alex").mailbox_analysed_at is None
        after = ask(session, lead.name, choice=lead)
        assert alex.id not in {c.person.id for c in after.colleagues}
        audited = session.scalars(select(AuditEntry.action)).all()
        assert audited.count("privacy.excluded") == 1
    # Later syncs keep her out: nothing read, nothing stored, no second deletion needed.
    served = len(server.served)
    await sync(engine, server, tmp_path, excluded_groups=(LEGAL,))
    assert not [s for s in server.served[served:] if s.mailbox == "u-alex"]
    with Session(engine) as session:
        assert _alex_data(session) == (0, 0)
        assert session.scalars(select(AuditEntry.action)).all().count("privacy.excluded") == 1


async def test_excluded_from_the_first_sync(
    engine: Engine, server: GraphServer, tmp_path: Path
) -> None:
    """Excluded before anything was read: her mailbox is never asked for, and others'
    mail keeps nothing of her; the e-mail and department rules still hold beside it."""
    await sync(engine, server, tmp_path, excluded_groups=(LEGAL,))
    assert not [s for s in server.served if s.mailbox in ("u-alex", "u-finn")]
    assert [s for s in server.served if s.mailbox == "u-tricia"]
    with Session(engine) as session:
        assert _alex_data(session) == (0, 0)
