"""New-lead heads-ups end to end: the Dynamics 365 sync (tests/graph_server.py) sees a lead
newly assigned, the bot sends the owner one card through the Bot Connector
(tests/connector.py), over HTTP all the way, on both backends."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from bot.auth import AuthConfig
from bot.conversation import WhoKnowsBot
from bot.headsup import HeadsUpSender, Limits
from bot.hosting import BotHost
from bot.server import HOST_KEY, create_app
from bot.users import utcnow
from cards import texts, verbs
from signals.crm import CrmEntry, upsert_crm
from signals.models import (
    HEADS_UP_PENDING,
    HEADS_UP_SENT,
    HEADS_UP_SKIPPED,
    CrmRecord,
    HeadsUp,
    Person,
)
from tests import teams
from tests.connector import Connector
from tests.graph_server import GraphServer
from tests.test_sync import Ticker, ca, run, runner_for, server

__all__ = ["ca", "server"]  # fixtures

Client = TestClient[Any, Any]
OWNERS = {
    f"su-{name}": {
        "systemuserid": f"su-{name}",
        "azureactivedirectoryobjectid": f"u-{name}",
        "internalemailaddress": email,
    }
    for name, email in (
        ("bob", "bob.kelly@contoso.com"),
        ("alex", "alex.wilber@contoso.com"),
        ("olivia", "olivia.optout@contoso.com"),
        ("finn", "finn.finance@contoso.com"),
    )
}
ANA = {
    "leadid": "lead-3",
    "fullname": "Ana Souza",
    "emailaddress1": "yvonne.mckay@fourthcoffee.com".replace("yvonne.mckay", "ana.souza"),
    "companyname": "Fourth Coffee",
}


@pytest.fixture(autouse=True)
def _teams(monkeypatch: pytest.MonkeyPatch, connector: Connector) -> None:
    """Colleagues the bot never talked to are reached in this tenant, at the stand-in."""
    monkeypatch.setenv("MicrosoftAppTenantId", teams.TENANT)
    monkeypatch.setenv("WHOKNOWS_TEAMS_SERVICE_URL", connector.service_url)
    monkeypatch.setenv("WHOKNOWS_EXCLUDED_PEOPLE", "dept:Finance")


@pytest.fixture
def crm(server: GraphServer) -> GraphServer:
    server.tenant.systemusers = dict(OWNERS)
    server.tenant.leads[0]["_ownerid_value"] = "su-alex"
    return server


@pytest.fixture
async def client(engine: Engine) -> AsyncIterator[Client]:
    bot = WhoKnowsBot(engine, dev_mode=True)
    client = TestClient(TestServer(create_app(bot, host=BotHost(bot, AuthConfig()))))
    await client.start_server()
    yield client
    await client.close()


def proactive(client: Client) -> Any:
    """The bot's own proactive sender (the path introductions use)."""
    app = client.app
    assert app is not None
    return app[HOST_KEY].proactive


CLOCK = Ticker()
"""One clock for every run: a source is synced again only after its last sync."""


async def sync(engine: Engine, server: GraphServer, ca: str, worker: str) -> None:
    CLOCK.now += timedelta(minutes=5)
    await run(runner_for(engine, server, ca, clock=CLOCK, owner=worker))


def assign(server: GraphServer, lead_id: str, owner: str) -> None:
    leads = {lead["leadid"]: lead for lead in server.tenant.leads}
    leads[lead_id]["_ownerid_value"] = owner


def heads_ups(engine: Engine) -> list[tuple[str, str, str]]:
    """(lead name, owner name, state) of every heads-up row."""
    with Session(engine) as session:
        rows = session.execute(
            select(CrmRecord.full_name, Person.display_name, HeadsUp.state)
            .join(CrmRecord, CrmRecord.id == HeadsUp.crm_record_id)
            .join(Person, Person.id == HeadsUp.owner_id)
            .order_by(CrmRecord.full_name)
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


def sent_cards(connector: Connector) -> list[dict[str, Any]]:
    return [card for r in connector.records if r.kind == "send" for card in r.cards]


def words(card: dict[str, Any]) -> str:
    return json.dumps(card, ensure_ascii=False)


async def test_once_per_lead_across_two_runs_and_two_workers(
    engine: Engine, crm: GraphServer, ca: str, connector: Connector, client: Client
) -> None:
    await sync(engine, crm, ca, "worker-1")
    # The first pass only learns who owns what: no heads-up for the existing book.
    assert heads_ups(engine) == []
    with Session(engine) as session:
        owner = session.scalar(
            select(Person.display_name)
            .join(CrmRecord, CrmRecord.owner_id == Person.id)
            .where(CrmRecord.crm_id == "lead-1")
        )
    assert owner == "Alex Wilber"

    assign(crm, "lead-1", "su-bob")  # reassigned
    crm.tenant.leads.append({**ANA, "_ownerid_value": "su-bob"})  # a new lead
    crm.tenant.leads[1]["_ownerid_value"] = None  # team-owned: nobody to tell
    await asyncio.gather(sync(engine, crm, ca, "worker-1"), sync(engine, crm, ca, "worker-2"))
    await sync(engine, crm, ca, "worker-2")
    expected = [("Ana Souza", "Bob Kelly", HEADS_UP_PENDING),
                ("Yvonne McKay", "Bob Kelly", HEADS_UP_PENDING)]  # fmt: skip
    assert heads_ups(engine) == expected

    # Two bot processes send at the same moment: each lead once.
    first, second = HeadsUpSender(engine, worker="bot-a"), HeadsUpSender(engine, worker="bot-b")
    rounds = await asyncio.gather(
        first.deliver(proactive(client)), second.deliver(proactive(client))
    )
    assert sum(r.sent for r in rounds) == 2 and sum(r.failed for r in rounds) == 0
    cards = sent_cards(connector)
    titles = sorted(c["body"][0]["text"] for c in cards)
    assert titles == ["New lead: Ana Souza, Fourth Coffee", "New lead: Yvonne McKay, Fourth Coffee"]
    # Bob never opened the bot: the conversation is created with his Entra id.
    creates = [r for r in connector.records if r.kind == "create"]
    assert {r.body["members"][0]["aadObjectId"] for r in creates} == {"u-bob"}
    for card in cards:
        text = words(card)
        assert "Olivia" not in text and "Finn" not in text and "Bob Kelly knows" not in text
        assert texts.HEADS_UP_FOOTER in text
    yvonne = next(c for c in cards if "Yvonne" in c["body"][0]["text"])
    assert {verbs.DETAILS, verbs.INTRODUCE} <= {a["verb"] for a in yvonne.get("actions", [])}
    assert [s for *_, s in heads_ups(engine)] == [HEADS_UP_SENT, HEADS_UP_SENT]

    # Another round and another sync change nothing.
    again = await first.deliver(proactive(client))
    await sync(engine, crm, ca, "worker-1")
    assert again.sent == 0 and len(sent_cards(connector)) == 2
    assert len(heads_ups(engine)) == 2


async def test_nothing_for_those_who_said_no_opted_out_or_are_excluded(
    engine: Engine,
    crm: GraphServer,
    ca: str,
    connector: Connector,
    client: Client,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await sync(engine, crm, ca, "worker-1")
    # Bob turns heads-ups off in his chat with the bot (Teams sends his Entra id).
    bob = {"id": "29:bob", "name": "Bob Kelly", "aadObjectId": "u-bob"}
    said = await client.post(
        "/api/messages",
        json=teams.message("notify off", service_url=connector.service_url, sender=bob),
    )
    assert said.status == 200
    assert connector.records[-1].text == texts.NOTIFY_OFF_DONE
    with Session(engine) as session, session.begin():
        session.execute(update(Person).where(Person.entra_id == "u-olivia").values(opted_out=True))
    assign(crm, "lead-1", "su-bob")
    assign(crm, "lead-2", "su-olivia")
    crm.tenant.leads.append({**ANA, "_ownerid_value": "su-finn"})
    await sync(engine, crm, ca, "worker-1")
    connector.clear()
    done = await HeadsUpSender(engine).deliver(proactive(client))
    assert (done.sent, done.skipped) == (0, 3)
    assert connector.records == []
    assert {s for *_, s in heads_ups(engine)} == {HEADS_UP_SKIPPED}

    # The administrator's default is off; Alex (no choice of his own) hears nothing, while
    # Bob, who turns them on again, does.
    monkeypatch.setenv("WHOKNOWS_HEADS_UP", "false")
    await client.post(
        "/api/messages",
        json=teams.message("notify on", service_url=connector.service_url, sender=bob),
    )
    crm.tenant.leads.append({**ANA, "leadid": "lead-4", "fullname": "Ravi Patel",
                             "emailaddress1": "ravi.patel@fourthcoffee.com",
                             "_ownerid_value": "su-alex"})  # fmt: skip
    crm.tenant.leads.append({**ANA, "leadid": "lead-5", "fullname": "Kenji Watanabe",
                             "emailaddress1": "kenji@fourthcoffee.com",
                             "_ownerid_value": "su-bob"})  # fmt: skip
    await sync(engine, crm, ca, "worker-1")
    connector.clear()
    done = await HeadsUpSender(engine).deliver(proactive(client))
    assert (done.sent, done.skipped) == (1, 1)
    (card,) = sent_cards(connector)
    assert card["body"][0]["text"] == "New lead: Kenji Watanabe, Fourth Coffee"
    # Bob talked to the bot: his own chat is continued, no conversation created.
    assert [r.kind for r in connector.records] == ["send"]
    assert connector.records[0].conversation_id == "a:chat-29:bob"


def _assign_directly(engine: Engine, owner: str, *names: str) -> None:
    """Leads assigned as a sync that has seen the CRM before would store them."""
    with Session(engine) as session, session.begin():
        for name in names:
            email = name.lower().replace(" ", ".") + "@fourthcoffee.com"
            entry = CrmEntry("lead", f"{owner}:{name}", name, [email], company_name="Fourth Coffee",
                             owner_entra_id=owner)  # fmt: skip
            upsert_crm(session, entry, announce=True)


async def test_rate_limits_per_colleague_and_per_tenant(
    engine: Engine, crm: GraphServer, ca: str, connector: Connector, client: Client
) -> None:
    await sync(engine, crm, ca, "worker-1")  # the directory
    _assign_directly(engine, "u-bob", "Ana Souza", "Ravi Patel", "Kenji Watanabe")
    _assign_directly(engine, "u-alex", "Lee Chan")
    limits = Limits(per_colleague_per_day=2, per_tenant_per_minute=2, max_age=timedelta(hours=72))
    sender = HeadsUpSender(engine, limits=limits)
    now = utcnow()
    first = await sender.deliver(proactive(client), now=now)
    assert first.sent == 2  # the tenant's budget for this minute
    later = await sender.deliver(proactive(client), now=now + timedelta(minutes=2))
    # Bob is at his daily two; Alex's heads-up goes out.
    assert later.sent == 1 and later.deferred >= 1
    sent_to = sorted(name for name, owner, state in heads_ups(engine) if state == HEADS_UP_SENT)
    assert len(sent_to) == 3
    held = [row for row in heads_ups(engine) if row[2] == HEADS_UP_PENDING]
    assert [owner for _, owner, _ in held] == ["Bob Kelly"]
    # A day later it goes; had it waited past the maximum age it would be dropped.
    next_day = await sender.deliver(proactive(client), now=now + timedelta(days=1, minutes=3))
    assert next_day.sent == 1
    assert len(sent_cards(connector)) == 4
    _assign_directly(engine, "u-alex", "Old News")
    stale = await sender.deliver(proactive(client), now=now + timedelta(days=4))
    assert (stale.sent, stale.skipped) == (0, 1)


async def test_the_server_runs_the_sender_beside_the_requests(engine: Engine) -> None:
    """`whoknows serve` passes the bot's background work; it gets the host's proactive
    sender at start-up and is cancelled at shutdown."""
    bot = WhoKnowsBot(engine, dev_mode=True)
    host = BotHost(bot, AuthConfig())
    started, stopped = asyncio.Event(), asyncio.Event()
    given: list[Any] = []

    async def background(sender: Any) -> None:
        given.append(sender)
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            stopped.set()

    client = TestClient(TestServer(create_app(bot, host=host, background=background)))
    await client.start_server()
    await asyncio.wait_for(started.wait(), 10)
    assert given == [host.proactive]
    await client.close()
    assert stopped.is_set()
    assert callable(bot.run_background)
