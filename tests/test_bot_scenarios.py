"""The bot as Teams meets it: Teams-shaped activities over HTTP, replies at a local connector.

A small hand-made organisation: Blaine (user 1) sells; Tricia (user 2) knows the lead
Yvonne McKay well; Ray (user 3) sent her one-way mail; Dana (user 4) met her once.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from bot.auth import AuthConfig
from bot.conversation import VERBS, WhoKnowsBot
from bot.hosting import BotHost
from bot.hosting.base import RetryingProactive
from bot.server import create_app
from cards import texts, verbs
from signals import stale
from signals.crm import CrmEntry, upsert_crm_entries
from signals.directory import DirectoryPerson, upsert_people
from signals.ingest import Writer, write_all
from signals.models import (
    AuditEntry,
    Interaction,
    Introduction,
    Kind,
    PairStrength,
    Participant,
    Person,
    Response,
)
from signals.records import Attendee, InteractionRecord, Party
from tests import teams
from tests.connector import Connector

pytestmark = pytest.mark.usefixtures("bot_sdk")

NOW = datetime.now(UTC)
YVONNE = Party("yvonne.mckay@fourthcoffee.com", "Yvonne McKay")
PEOPLE = {
    1: ("Blaine Carmack", "blaine.carmack@contoso.com"),
    2: ("Tricia Potter", "tricia.potter@contoso.com"),
    3: ("Ray Tanaka", "ray.tanaka@contoso.com"),
    4: ("Dana Birk", "dana.birk@contoso.com"),
}
Client = TestClient[web.Request, web.Application]


def _user(n: int) -> dict[str, str]:
    return teams.user(n, PEOPLE[n][0])


def _records() -> list[InteractionRecord]:
    recs: list[InteractionRecord] = []
    tricia, ray, dana = (Party(PEOPLE[n][1], PEOPLE[n][0]) for n in (2, 3, 4))
    for i in range(5):
        at = NOW - timedelta(days=5 + 9 * i)
        key = f"<t{i}@x>"
        recs.append(InteractionRecord(Kind.EMAIL, key, at, tricia, to=[YVONNE], thread_key=key))
        recs.append(
            InteractionRecord(
                Kind.EMAIL,
                f"<y{i}@x>",
                at + timedelta(hours=2),
                YVONNE,
                to=[tricia],
                thread_key=key,
                parent_key=key,
            )
        )
    for i in range(12):
        recs.append(
            InteractionRecord(
                Kind.EMAIL, f"<r{i}@x>", NOW - timedelta(days=2 + i), ray, to=[YVONNE]
            )
        )
    recs.append(
        InteractionRecord(
            Kind.MEETING,
            "m1",
            NOW - timedelta(days=40),
            dana,
            attendees=[Attendee(YVONNE.email, "", Response.ACCEPTED)],
        )
    )
    # Two people called Pat Lee: a choice.
    for n, email in enumerate(("pat.lee@fabrikam.com", "pat.lee@northwind.com")):
        recs.append(
            InteractionRecord(
                Kind.EMAIL,
                f"<p{n}@x>",
                NOW - timedelta(days=3),
                tricia,
                to=[Party(email, "Pat Lee")],
            )
        )
    return recs


@pytest.fixture
def org(engine: Engine) -> Engine:
    upsert_people(
        engine,
        [
            DirectoryPerson(
                [email],
                name,
                title="Account Executive",
                department="Sales",
                entra_id=_user(n)["aadObjectId"],
                phone=f"+1 555 010{n}",
            )
            for n, (name, email) in PEOPLE.items()
        ],
    )
    write_all(Writer(engine), _records())
    upsert_crm_entries(
        engine,
        [
            CrmEntry(
                "lead",
                "L-1",
                "Yvonne McKay",
                [YVONNE.email],
                company_name="Fourth Coffee",
                topic="New store opened this year - follow up",
            )
        ],
    )
    return engine


@pytest.fixture
def bot(org: Engine) -> WhoKnowsBot:
    return WhoKnowsBot(org, dev_mode=True)


@pytest.fixture
async def client(bot: WhoKnowsBot, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Client]:
    # One reply per message, however busy the machine (the acknowledgement has its own test).
    monkeypatch.setenv("WHOKNOWS_ACK_AFTER_SECONDS", "60")
    client = TestClient(TestServer(create_app(bot, host=BotHost(bot, AuthConfig()))))
    await client.start_server()
    yield client
    await client.close()


@pytest.fixture
def session(org: Engine) -> Iterator[Session]:
    with Session(org) as s:
        yield s


async def say(client: Client, connector: Connector, text: str, n: int = 1, **kw: Any) -> Any:
    """Send a message as user n; return the reply (a card dict, or the text)."""
    before = len(connector.records)
    body = teams.message(text, service_url=connector.service_url, sender=_user(n), **kw)
    response = await client.post("/api/messages", json=body)
    assert response.status == 200, await response.text()
    new = connector.records[before:]
    assert len(new) == 1, new
    return new[0].cards[0] if new[0].cards else new[0].text


async def click(
    client: Client, connector: Connector, verb: str, data: dict[str, Any], n: int = 1
) -> dict[str, Any]:
    body = teams.execute(
        verb, {"verb": verb, **data}, service_url=connector.service_url, sender=_user(n)
    )
    response = await client.post("/api/messages", json=body)
    assert response.status == 200, await response.text()
    answer = await response.json()
    assert answer["statusCode"] == 200
    return answer  # type: ignore[no-any-return]


def card_text(card: dict[str, Any]) -> str:
    return json.dumps(card, ensure_ascii=False)


def actions(card: dict[str, Any]) -> list[dict[str, Any]]:
    """Every Action.Execute in a card, wherever it sits."""
    found: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "Action.Execute":
                found.append(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(card)
    return found


def person_id(session: Session, name: str) -> int:
    return session.scalars(select(Person.id).where(Person.display_name == name)).one()


async def test_who_knows_lists_tricia_first(client: Client, connector: Connector) -> None:
    card = await say(client, connector, "who knows Yvonne McKay")
    text = card_text(card)
    # Dana met her once; Ray's mail was never answered: at most Weak, below Dana.
    assert text.index("Tricia Potter") < text.index("Dana Birk") < text.index("Ray Tanaka")
    assert "sent, never answered" in text
    assert "Stale: mail up to 2 days ago" in text  # the newest message is two days old
    assert "Blaine Carmack" not in text
    assert "New store opened this year" in text
    assert {a["verb"] for a in actions(card)} >= {verbs.DETAILS, verbs.INTRODUCE}


async def test_full_introduction(client: Client, connector: Connector, session: Session) -> None:
    lead = person_id(session, "Yvonne McKay")
    tricia = person_id(session, "Tricia Potter")
    await say(client, connector, "who knows Yvonne McKay")
    compose = (
        await click(client, connector, verbs.INTRODUCE, {"lead": lead, "colleague": tricia})
    )["value"]
    assert "Tricia" in card_text(compose)
    assert {a["verb"] for a in actions(compose)} >= {verbs.SEND, verbs.CANCEL}
    connector.clear()
    note = "Hi Tricia, could you introduce me to Yvonne? (edited)"
    sent = (
        await click(
            client, connector, verbs.SEND, {"lead": lead, "colleague": tricia, "note": note}
        )
    )["value"]
    assert "Tricia Potter" in card_text(sent)
    # Tricia never talked to the bot: the conversation is created with her Entra id.
    [create] = connector.of_kind("create")
    assert create.body["members"][0]["aadObjectId"] == _user(2)["aadObjectId"]
    request = connector.of_kind("send")[0].cards[0]
    assert note in card_text(request)
    request_id = next(a["data"]["request"] for a in actions(request))
    # The same request again is not sent twice.
    again = (
        await click(
            client, connector, verbs.SEND, {"lead": lead, "colleague": tricia, "note": note}
        )
    )["value"]
    assert len(connector.of_kind("create")) == 1
    assert again != sent
    # Ray may not answer a request addressed to Tricia.
    stolen = await click(client, connector, verbs.ACCEPT, {"request": request_id}, n=3)
    assert stolen["type"] == "application/vnd.microsoft.activity.message"
    # Tricia accepts; Blaine (who talked to the bot) is told in his own chat.
    connector.clear()
    accepted = await click(client, connector, verbs.ACCEPT, {"request": request_id}, n=2)
    assert accepted["type"] == "application/vnd.microsoft.card.adaptive"
    [notice] = connector.records
    assert notice.conversation_id == f"a:chat-{_user(1)['id']}"
    assert "Tricia Potter" in card_text(notice.cards[0])
    session.expire_all()
    intro = session.scalars(select(Introduction)).one()
    assert (intro.state, intro.note) == ("accepted", note)
    actions_logged = set(session.scalars(select(AuditEntry.action)))
    assert {"introduction.requested", "introduction.accepted"} <= actions_logged


async def test_declined_colleague_is_not_offered_again(
    client: Client, connector: Connector, session: Session
) -> None:
    lead, tricia = person_id(session, "Yvonne McKay"), person_id(session, "Tricia Potter")
    await say(client, connector, "hi")  # Blaine's conversation is known
    await click(client, connector, verbs.SEND, {"lead": lead, "colleague": tricia, "note": "x"})
    request_id = session.scalars(select(Introduction.id)).one()
    await click(client, connector, verbs.DECLINE, {"request": request_id}, n=2)
    card = await say(client, connector, "who knows Yvonne McKay")
    assert "Tricia Potter" not in card_text(card)


async def test_not_known_lowers_the_connection(
    client: Client, connector: Connector, session: Session
) -> None:
    lead, tricia = person_id(session, "Yvonne McKay"), person_id(session, "Tricia Potter")
    await click(client, connector, verbs.SEND, {"lead": lead, "colleague": tricia, "note": "x"})
    request_id = session.scalars(select(Introduction.id)).one()
    await click(client, connector, verbs.NOT_KNOWN, {"request": request_id}, n=2)
    session.expire_all()
    pair = session.get(PairStrength, {"introducer_id": tricia, "lead_id": lead})
    assert pair is not None and pair.feedback_factor < 1.0


async def test_unreachable_colleague_gets_the_chat_link(
    client: Client, connector: Connector, session: Session
) -> None:
    lead, tricia = person_id(session, "Yvonne McKay"), person_id(session, "Tricia Potter")
    connector.refuse(_user(2)["aadObjectId"])
    card = (
        await click(
            client, connector, verbs.SEND, {"lead": lead, "colleague": tricia, "note": "Hello"}
        )
    )["value"]
    assert "teams.microsoft.com/l/chat/0/0?users=tricia.potter" in card_text(card)
    assert "message=Hello" in card_text(card)


async def test_card_data_is_never_trusted(
    client: Client, connector: Connector, session: Session
) -> None:
    lead = person_id(session, "Yvonne McKay")
    blaine = person_id(session, "Blaine Carmack")
    for data in (
        {"lead": lead, "colleague": blaine, "note": "x"},  # doesn't know her
        {"lead": "abc", "colleague": 1},
        {"lead": 10**20, "colleague": 1},
        {},
    ):
        answer = await click(client, connector, verbs.SEND, data)
        assert answer["type"] == "application/vnd.microsoft.activity.message"
    assert session.scalar(select(func.count()).select_from(Introduction)) == 0


async def test_unknown_verb_and_invoke_name(client: Client, connector: Connector) -> None:
    answer = await click(client, connector, "explode", {})
    assert answer["type"] == "application/vnd.microsoft.activity.message"
    body = teams.activity("invoke", service_url=connector.service_url, name="task/fetch", value={})
    response = await client.post("/api/messages", json=body)
    assert response.status == 400


async def test_every_card_verb_has_a_handler() -> None:
    assert set(VERBS) == set(verbs.ALL)


async def test_list_view_pages_and_details(
    client: Client, connector: Connector, session: Session
) -> None:
    lead, dana = person_id(session, "Yvonne McKay"), person_id(session, "Dana Birk")
    listing = (await click(client, connector, verbs.LIST, {"lead": lead, "page": 1}))["value"]
    text = card_text(listing)
    assert text.index("Tricia Potter") < text.index("Dana Birk")
    details = (await click(client, connector, verbs.DETAILS, {"lead": lead, "colleague": dana}))[
        "value"
    ]
    assert "+1 555 0104" in card_text(details)
    assert "Counted: " in card_text(details) and "mail up to " in card_text(details)
    far = (await click(client, connector, verbs.LIST, {"lead": lead, "page": 99}))["value"]
    assert "Tricia Potter" in card_text(far)  # clamped to the last page


async def test_choice_between_matches(
    client: Client, connector: Connector, session: Session
) -> None:
    card = await say(client, connector, "who knows Pat Lee")
    choices = [a for a in actions(card) if a["verb"] == verbs.CHOOSE]
    assert len(choices) == 2
    chosen = (await click(client, connector, verbs.CHOOSE, choices[0]["data"]))["value"]
    assert "Tricia Potter" in card_text(chosen)


async def test_no_match_suggests_names(client: Client, connector: Connector) -> None:
    card = await say(client, connector, "who knows Yvone Mckey Smithers")
    assert "Yvonne McKay" in card_text(card) or "No" in card_text(card)


async def test_company_question(client: Client, connector: Connector) -> None:
    card = await say(client, connector, "who knows anyone at Fourth Coffee")
    assert "Tricia Potter" in card_text(card) and "Yvonne McKay" in card_text(card)


async def test_commands_and_texts(client: Client, connector: Connector) -> None:
    assert isinstance(await say(client, connector, "who knows"), str)
    help_card = await say(client, connector, "tell me a joke")
    assert "opt out" in card_text(help_card).lower()
    group = teams.mention_message(
        "who knows Yvonne McKay", service_url=connector.service_url, sender=_user(1)
    )
    response = await client.post("/api/messages", json=group)
    assert response.status == 200
    # A group chat gets a note; the answer goes to the asker's 1:1 chat
    # (tests/test_shared_chats.py).
    answer, note = connector.records[-2:]
    assert answer.conversation_id == f"a:chat-{_user(1)['id']}"  # where Blaine asked before
    assert note.conversation_id == group["conversation"]["id"]
    assert note.text == texts.SENT_PRIVATELY
    assert "Tricia Potter" in card_text(answer.cards[0])


async def test_welcome_once(client: Client, connector: Connector) -> None:
    for _ in range(2):
        body = teams.installation("add", service_url=connector.service_url, sender=_user(1))
        assert (await client.post("/api/messages", json=body)).status == 200
        body = teams.members_added(teams.BOT_ID, service_url=connector.service_url, sender=_user(1))
        assert (await client.post("/api/messages", json=body)).status == 200
    assert len(connector.records) == 1
    assert connector.records[0].cards


async def test_opt_out_deletes_and_hides(
    client: Client, connector: Connector, session: Session, bot: WhoKnowsBot
) -> None:
    tricia = person_id(session, "Tricia Potter")
    confirm = await say(client, connector, "opt out", n=2)
    assert {a["verb"] for a in actions(confirm)} >= {verbs.OPT_OUT_CONFIRM, verbs.OPT_OUT_CANCEL}
    stored = session.scalar(
        select(func.count()).select_from(PairStrength).where(PairStrength.introducer_id == tricia)
    )
    assert stored is not None and stored > 0
    done = (await click(client, connector, verbs.OPT_OUT_CONFIRM, {}, n=2))["value"]
    assert "opted out" in card_text(done).lower()
    await bot.settle()  # what others' connections counted of her interactions is recomputed
    with session.bind.connect() as conn:  # type: ignore[union-attr]
        assert not stale.pending(conn)
    session.expire_all()
    assert session.get(Person, tricia).opted_out  # type: ignore[union-attr]
    for table, column in (
        (PairStrength, PairStrength.introducer_id),
        (Participant, Participant.person_id),
    ):
        assert session.scalar(select(func.count()).select_from(table).where(column == tricia)) == 0
    assert (
        session.scalar(
            select(func.count()).select_from(Interaction).where(Interaction.source_key.like("<t%"))
        )
        == 0
    )
    for text in (
        "who knows Yvonne McKay",
        "who knows anyone at Fourth Coffee",
        "who knows Pat Lee",
    ):
        reply = await say(client, connector, text)
        assert "Tricia Potter" not in card_text(reply)
    data = await say(client, connector, "my data", n=2)
    assert "opted out" in card_text(data).lower()
    back = await say(client, connector, "opt in", n=2)
    assert "welcome back" in card_text(back).lower()


async def test_slow_answer_is_acknowledged_then_replaced(
    client: Client, connector: Connector, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WHOKNOWS_ACK_AFTER_SECONDS", "0")
    body = teams.message(
        "who knows Yvonne McKay", service_url=connector.service_url, sender=_user(1)
    )
    assert (await client.post("/api/messages", json=body)).status == 200
    first, second = connector.records
    assert "Looking up Yvonne McKay" in card_text(first.cards[0])
    assert second.kind == "update" and second.activity_id is not None
    assert "Tricia Potter" in card_text(second.cards[0])


async def test_throttled_delivery_is_retried_with_backoff(
    client: Client, connector: Connector, session: Session
) -> None:
    from bot.server import HOST_KEY

    waits: list[float] = []

    async def no_wait(delay: float) -> None:
        waits.append(delay)

    assert isinstance(client.server, TestServer)
    proactive = client.server.app[HOST_KEY].proactive
    assert isinstance(proactive, RetryingProactive)
    proactive.sleep = no_wait
    lead, tricia = person_id(session, "Yvonne McKay"), person_id(session, "Tricia Potter")
    connector.refuse(_user(2)["aadObjectId"], 429, "Throttled", times=2)
    sent = (
        await click(
            client, connector, verbs.SEND, {"lead": lead, "colleague": tricia, "note": "Hello"}
        )
    )["value"]
    title, _ = texts.status_sent("Tricia Potter", "Yvonne McKay")
    assert title in card_text(sent)
    assert len(connector.of_kind("create")) == 1
    assert len(waits) == 2 and waits[1] > waits[0] > 0
    # A refusal that won't change (blocked) is not retried.
    waits.clear()
    connector.refuse(_user(3)["aadObjectId"], 403, "MessageWritesBlocked")
    ray = person_id(session, "Ray Tanaka")
    await click(client, connector, verbs.SEND, {"lead": lead, "colleague": ray, "note": "Hi"})
    assert waits == []
