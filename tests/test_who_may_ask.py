"""Who may ask, over HTTP as Teams sends it: guests, unknown, disabled and departed users
get one card naming nobody; allowed groups; excluded colleagues; forged ids in every verb.

The organisation of tests/test_bot_scenarios.py (Blaine asks, Tricia, Ray and Dana know
Yvonne McKay), plus a guest, a disabled and a departed colleague.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from bot.auth import AuthConfig
from bot.conversation import ACCESS, ASKER, COLLEAGUE, SELF, WhoKnowsBot
from bot.hosting import BotHost
from bot.server import create_app
from cards import texts, verbs
from signals.crm import CrmEntry, upsert_crm_entries
from signals.directory import DirectoryPerson, upsert_people
from signals.ingest import Writer, write_all
from signals.models import (
    REQUEST_OPEN,
    Company,
    GroupMember,
    Introduction,
    Person,
)
from tests import teams
from tests.connector import Connector
from tests.test_bot_scenarios import NOW, PEOPLE, YVONNE, _records, actions, card_text

Client = TestClient[web.Request, web.Application]
MESSAGE = "application/vnd.microsoft.activity.message"
CARD = "application/vnd.microsoft.card.adaptive"
# People the bot must never name to someone who may not ask.
NAMES = ("Blaine", "Tricia", "Ray Tanaka", "Dana", "Yvonne", "Fourth Coffee", "McKay")
GUEST, DISABLED, DEPARTED, UNKNOWN = 5, 6, 7, 8
OTHERS = {
    GUEST: ("Gus Guest", "gus@partner.example"),
    DISABLED: ("Dora Disabled", "dora.disabled@contoso.com"),
    DEPARTED: ("Len Left", "len.left@contoso.com"),
}
SALES_GROUP = "5a1e5000-0000-4000-8000-000000000001"


def sender(n: int) -> dict[str, str]:
    name = {**PEOPLE, **OTHERS}.get(n, ("Somebody", ""))[0]
    return teams.user(n, name)


class Outbox:
    """A mailer that keeps what it was asked to send."""

    def __init__(self) -> None:
        self.sent: list[dict[str, str]] = []

    async def send(self, *, sender: str, to: str, subject: str, body: str) -> None:
        self.sent.append({"sender": sender, "to": to, "subject": subject, "body": body})


@pytest.fixture
def org(engine: Engine) -> Engine:
    people = [
        DirectoryPerson([email], name, entra_id=sender(n)["aadObjectId"], department="Sales")
        for n, (name, email) in PEOPLE.items()
    ]
    people += [
        DirectoryPerson(
            [OTHERS[GUEST][1]], OTHERS[GUEST][0], entra_id=sender(GUEST)["aadObjectId"], guest=True
        ),
        DirectoryPerson(
            [OTHERS[DISABLED][1]],
            OTHERS[DISABLED][0],
            entra_id=sender(DISABLED)["aadObjectId"],
            enabled=False,
        ),
        DirectoryPerson(
            [OTHERS[DEPARTED][1]],
            OTHERS[DEPARTED][0],
            entra_id=sender(DEPARTED)["aadObjectId"],
            departed_at=NOW - timedelta(days=3),
        ),
    ]
    upsert_people(engine, people)
    write_all(Writer(engine), _records())
    upsert_crm_entries(
        engine,
        [CrmEntry("lead", "L-1", "Yvonne McKay", [YVONNE.email], company_name="Fourth Coffee")],
    )
    return engine


@pytest.fixture
def outbox() -> Outbox:
    return Outbox()


@pytest.fixture
def bot(org: Engine, outbox: Outbox) -> WhoKnowsBot:
    return WhoKnowsBot(org, dev_mode=True, mailer=outbox)


@pytest.fixture
async def client(bot: WhoKnowsBot) -> AsyncIterator[Client]:
    client = TestClient(TestServer(create_app(bot, host=BotHost(bot, AuthConfig()))))
    await client.start_server()
    yield client
    await client.close()


@pytest.fixture
def session(org: Engine) -> Iterator[Session]:
    with Session(org) as s:
        yield s


def pid(session: Session, name: str) -> int:
    return session.scalars(select(Person.id).where(Person.display_name == name)).one()


async def say(client: Client, connector: Connector, text: str, n: int) -> Any:
    before = len(connector.records)
    body = teams.message(text, service_url=connector.service_url, sender=sender(n))
    response = await client.post("/api/messages", json=body)
    assert response.status == 200, await response.text()
    [reply] = connector.records[before:]
    return reply.cards[0] if reply.cards else reply.text


async def click(
    client: Client, connector: Connector, verb: str, data: dict[str, Any], n: int
) -> dict[str, Any]:
    body = teams.execute(
        verb, {"verb": verb, **data}, service_url=connector.service_url, sender=sender(n)
    )
    response = await client.post("/api/messages", json=body)
    assert response.status == 200, await response.text()
    answer = await response.json()
    assert answer["statusCode"] == 200
    return answer  # type: ignore[no-any-return]


def assert_no_access(card: Any) -> None:
    """The one no-access card: says whom to ask, names nobody, offers nothing to click."""
    assert isinstance(card, dict), card
    text = card_text(card)
    assert texts.NO_ACCESS_TITLE in text
    assert texts.no_access_contact(None) in text
    assert not [name for name in NAMES if name in text], text
    assert actions(card) == []


def count_requests(session: Session) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(Introduction)) or 0


async def _open_request(
    client: Client, connector: Connector, session: Session, requester: int = 1
) -> int:
    """Blaine asks Tricia about Yvonne; returns the request id."""
    lead, tricia = pid(session, "Yvonne McKay"), pid(session, "Tricia Potter")
    data = {"lead": lead, "colleague": tricia, "note": "Could you introduce me?"}
    answer = await click(client, connector, verbs.SEND, data, requester)
    assert answer["type"] == CARD, answer
    session.expire_all()
    return session.scalars(select(Introduction.id).order_by(Introduction.id.desc())).first() or 0


# -- who may ask -------------------------------------------------------------------------


@pytest.mark.parametrize("n", [GUEST, UNKNOWN, DISABLED, DEPARTED], ids=lambda n: str(n))
async def test_only_colleagues_get_answers(
    client: Client, connector: Connector, session: Session, n: int
) -> None:
    """A guest, someone the directory doesn't know, a disabled and a departed colleague:
    every command and card action that reveals connections answers the no-access card."""
    assert_no_access(await say(client, connector, "who knows Yvonne McKay", n))
    assert_no_access(await say(client, connector, "who knows anyone at Fourth Coffee", n))
    assert_no_access(await say(client, connector, "who knows yvonne.mckay@fourthcoffee.com", n))
    lead, tricia = pid(session, "Yvonne McKay"), pid(session, "Tricia Potter")
    company = session.scalars(select(Company.id).where(Company.name == "Fourth Coffee")).one()
    request = await _open_request(client, connector, session)
    clicks: list[tuple[str, dict[str, Any]]] = [
        (verbs.SUMMARY, {"lead": lead}),
        (verbs.CHOOSE, {"company": company}),
        (verbs.DETAILS, {"lead": lead, "colleague": tricia}),
        (verbs.LIST, {"lead": lead, "page": 1}),
        (verbs.LIST, {"company": company, "page": 1}),
        (verbs.INTRODUCE, {"lead": lead, "colleague": tricia}),
        (verbs.CANCEL, {"lead": lead, "colleague": tricia}),
        (verbs.SEND, {"lead": lead, "colleague": tricia, "note": "hello"}),
        (verbs.SEND_EMAIL, {"request": request}),
    ]
    clicks += [(v, {"request": request}) for v in (verbs.ACCEPT, verbs.DECLINE)]
    for verb, data in clicks:
        answer = await click(client, connector, verb, data, n)
        assert answer["type"] == CARD, (verb, answer)
        assert_no_access(answer["value"])
    assert count_requests(session) == 1  # only Blaine's
    session.expire_all()
    assert session.get(Introduction, request).state == REQUEST_OPEN  # type: ignore[union-attr]


async def test_help_and_own_data_stay_open(client: Client, connector: Connector) -> None:
    help_card = await say(client, connector, "help", GUEST)
    assert "opt out" in card_text(help_card).lower()
    mine = await say(client, connector, "my data", DISABLED)
    assert "Dora Disabled" in card_text(mine) and "Tricia" not in card_text(mine)
    unknown = await say(client, connector, "my data", UNKNOWN)
    assert unknown == texts.NOTHING_STORED


async def test_the_card_names_the_configured_contact(
    client: Client, connector: Connector, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WHOKNOWS_ACCESS_CONTACT", "the Sales Operations team")
    card = await say(client, connector, "who knows Yvonne McKay", UNKNOWN)
    assert texts.no_access_contact("the Sales Operations team") in card_text(card)


async def test_a_colleague_disabled_after_the_answer_loses_access(
    client: Client, connector: Connector, session: Session
) -> None:
    """Every click checks the asker again: a card shown before still works only while
    its user may ask."""
    card = await say(client, connector, "who knows Yvonne McKay", 1)
    details = next(a for a in actions(card) if a["verb"] == verbs.DETAILS)
    assert (await click(client, connector, verbs.DETAILS, details["data"], 1))["type"] == CARD
    session.execute(
        update(Person).where(Person.display_name == "Blaine Carmack").values(enabled=False)
    )
    session.commit()
    answer = await click(client, connector, verbs.DETAILS, details["data"], 1)
    assert_no_access(answer["value"])


async def test_allowed_groups(
    client: Client, connector: Connector, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With WHOKNOWS_ALLOWED_GROUPS only the groups' members ask; a colleague outside them
    still answers a request addressed to them."""
    monkeypatch.setenv("WHOKNOWS_ALLOWED_GROUPS", f"{SALES_GROUP}, 0000")
    assert_no_access(await say(client, connector, "who knows Yvonne McKay", 1))
    session.add(GroupMember(group_id=SALES_GROUP, person_id=pid(session, "Blaine Carmack")))
    session.add(GroupMember(group_id="other-group", person_id=pid(session, "Ray Tanaka")))
    session.commit()
    assert "Tricia Potter" in card_text(await say(client, connector, "who knows Yvonne McKay", 1))
    assert_no_access(await say(client, connector, "who knows Yvonne McKay", 3))  # Ray
    request = await _open_request(client, connector, session)
    answer = await click(client, connector, verbs.ACCEPT, {"request": request}, 2)  # Tricia
    assert answer["type"] == CARD and texts.NO_ACCESS_TITLE not in card_text(answer)
    session.expire_all()
    assert session.get(Introduction, request).state == "accepted"  # type: ignore[union-attr]


async def test_every_verb_declares_who_may_click() -> None:
    assert set(ACCESS) == set(verbs.ALL)
    assert {ACCESS[v] for v in (verbs.ACCEPT, verbs.DECLINE, verbs.NOT_KNOWN)} == {COLLEAGUE}
    self_service = {verbs.OPT_OUT, verbs.OPT_OUT_CONFIRM, verbs.OPT_OUT_CANCEL, verbs.OPT_IN}
    assert {v for v, a in ACCESS.items() if a == SELF} == self_service | {
        verbs.MY_DATA,
        verbs.HELP,
    }
    assert {v for v, a in ACCESS.items() if a == ASKER} == {
        verbs.SUMMARY, verbs.CHOOSE, verbs.DETAILS, verbs.LIST, verbs.INTRODUCE, verbs.CANCEL,
        verbs.SEND, verbs.SEND_EMAIL, verbs.SHARED,
    }  # fmt: skip


# -- forged ids ----------------------------------------------------------------------------


async def test_a_colleague_is_never_a_lead_from_card_data(
    client: Client, connector: Connector, session: Session
) -> None:
    """Card data naming a colleague, a list or nobody as the lead shows nothing."""
    tricia, ray = pid(session, "Tricia Potter"), pid(session, "Ray Tanaka")
    for lead in (tricia, pid(session, "Blaine Carmack"), 10**9):
        for verb, data in (
            (verbs.SUMMARY, {"lead": lead}),
            (verbs.CHOOSE, {"lead": lead}),
            (verbs.DETAILS, {"lead": lead, "colleague": ray}),
            (verbs.LIST, {"lead": lead}),
            (verbs.INTRODUCE, {"lead": lead, "colleague": ray}),
            (verbs.CANCEL, {"lead": lead, "colleague": ray}),
            (verbs.SEND, {"lead": lead, "colleague": ray, "note": "x"}),
        ):
            answer = await click(client, connector, verb, data, 1)
            assert answer == {"statusCode": 200, "type": MESSAGE, "value": texts.LEAD_GONE}, verb
    malformed: list[dict[str, Any]] = [
        {"company": 10**9},
        {"company": "x"},
        {"lead": -1},
        {"lead": True},
        {},
    ]
    for bad in malformed:
        answer = await click(client, connector, verbs.SUMMARY, bad, 1)
        assert answer["type"] == MESSAGE and answer["value"] in (
            texts.LEAD_GONE,
            texts.BAD_ACTION,
        )
    assert count_requests(session) == 0


async def test_typed_questions_never_resolve_a_colleague(
    client: Client, connector: Connector
) -> None:
    for text in ("who knows Tricia Potter", "who knows tricia.potter@contoso.com"):
        card = await say(client, connector, text, 1)
        assert "Ray Tanaka" not in card_text(card)
        assert verbs.DETAILS not in {a["verb"] for a in actions(card)}


async def test_internal_leads_when_the_setting_allows(
    client: Client, connector: Connector, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WHOKNOWS_ALLOW_INTERNAL_LEADS", "true")
    answer = await click(
        client, connector, verbs.SUMMARY, {"lead": pid(session, "Tricia Potter")}, 1
    )
    assert answer["type"] == CARD and "Tricia Potter" in card_text(answer["value"])


@pytest.mark.parametrize("flag", ["opted_out", "excluded", "enabled", "guest"])
async def test_an_introducer_must_be_proposable(
    client: Client, connector: Connector, session: Session, flag: str
) -> None:
    """Card data naming a colleague who may not be proposed (opted out, in an excluded
    group, disabled, a guest) or who doesn't know the lead gets no details, no request."""
    lead, ray = pid(session, "Yvonne McKay"), pid(session, "Ray Tanaka")
    session.execute(update(Person).where(Person.id == ray).values({flag: flag != "enabled"}))
    session.commit()
    card = await say(client, connector, "who knows Yvonne McKay", 1)
    assert "Tricia Potter" in card_text(card) and "Ray Tanaka" not in card_text(card)
    for colleague in (ray, pid(session, "Blaine Carmack"), pid(session, "Gus Guest"), 10**9):
        for verb in (verbs.DETAILS, verbs.INTRODUCE, verbs.CANCEL, verbs.SEND):
            data = {"lead": lead, "colleague": colleague, "note": "x"}
            answer = await click(client, connector, verb, data, 1)
            assert answer == {
                "statusCode": 200,
                "type": MESSAGE,
                "value": texts.NOT_A_CONNECTION,
            }, (verb, colleague)
    assert count_requests(session) == 0


async def test_an_introduction_id_must_be_the_clickers(
    client: Client, connector: Connector, session: Session, outbox: Outbox
) -> None:
    """Answers only from the colleague asked; the e-mail route only for the requester."""
    request = await _open_request(client, connector, session)
    for n in (1, 3, 4):  # the requester, and colleagues who weren't asked
        for verb in (verbs.ACCEPT, verbs.DECLINE, verbs.NOT_KNOWN):
            answer = await click(client, connector, verb, {"request": request}, n)
            assert answer["value"] == texts.NOT_YOUR_REQUEST, (verb, n)
    for n in (2, 3):  # the colleague asked, a stranger to the request
        answer = await click(client, connector, verbs.SEND_EMAIL, {"request": request}, n)
        assert answer["value"] == texts.NOT_YOUR_REQUEST, n
    for data in ({"request": 10**9}, {"request": "1; drop table"}, {}):
        for verb in (verbs.ACCEPT, verbs.SEND_EMAIL):
            answer = await click(client, connector, verb, data, 2)
            assert answer["value"] in (texts.REQUEST_GONE, texts.BAD_ACTION), (verb, data)
    assert outbox.sent == []
    session.expire_all()
    assert session.get(Introduction, request).state == REQUEST_OPEN  # type: ignore[union-attr]
    answer = await click(client, connector, verbs.SEND_EMAIL, {"request": request}, 1)
    assert answer["type"] == CARD and len(outbox.sent) == 1


async def test_self_service_verbs_ignore_ids_in_card_data(
    client: Client, connector: Connector, session: Session
) -> None:
    """Opt-out, opt-in and my data act on the clicker alone, whatever the data names."""
    tricia = pid(session, "Tricia Potter")
    forged = {"colleague": tricia, "lead": tricia, "request": 1}
    mine = await click(client, connector, verbs.MY_DATA, forged, 1)
    assert "Blaine Carmack" in card_text(mine) and "Tricia" not in card_text(mine)
    answer = await click(client, connector, verbs.OPT_OUT_CONFIRM, forged, 1)
    assert answer["type"] == CARD
    answer = await click(client, connector, verbs.OPT_OUT_CONFIRM, forged, UNKNOWN)
    assert answer["value"] == texts.NOTHING_STORED
    session.expire_all()
    flags = {n: o for n, o in session.execute(select(Person.display_name, Person.opted_out))}
    assert flags["Blaine Carmack"] and not flags["Tricia Potter"]
    await click(client, connector, verbs.OPT_OUT_CONFIRM, {"colleague": tricia}, 2)  # Tricia
    await click(client, connector, verbs.OPT_IN, forged, 1)
    session.expire_all()
    flags = {n: o for n, o in session.execute(select(Person.display_name, Person.opted_out))}
    assert not flags["Blaine Carmack"] and flags["Tricia Potter"]
