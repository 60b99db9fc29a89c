"""The search message extension and Dynamics 365 link unfurling, over HTTP as Teams sends
the invokes (the organisation of tests/test_bot_scenarios.py: Tricia knows Yvonne well)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from cards import texts, verbs
from signals.crm import CrmEntry, upsert_crm_entries
from signals.models import NotifyPreference
from tests import teams
from tests import test_bot_scenarios as scenarios
from tests.connector import Connector

Client = scenarios.Client
bot = scenarios.bot
client = scenarios.client
session = scenarios.session

CRM = "https://contoso.crm.dynamics.com"
LEAD_GUID = "3f2a1b4c-5d6e-4f70-8a9b-0c1d2e3f4a5b"
CONTACT_GUID = "9e8d7c6b-5a49-4837-a261-504f3e2d1c0b"
MISSING_GUID = "00000000-1111-4222-8333-444455556666"
UNKNOWN = teams.user(9, "Guest Visitor")  # not in the directory


def record_url(etn: str, guid: str, host: str = CRM, braces: bool = False) -> str:
    record = f"%7B{guid.upper()}%7D" if braces else guid
    return (
        f"{host}/main.aspx?appid=5e6f7a8b-0000-4000-8000-000000000001"
        f"&pagetype=entityrecord&etn={etn}&id={record}"
    )


@pytest.fixture
def org(engine: Engine) -> Engine:
    """The scenario organisation, with Yvonne as a Dynamics 365 lead and Pat Lee of
    Fabrikam as a contact."""
    scenarios.org.__wrapped__(engine)  # type: ignore[attr-defined]
    upsert_crm_entries(
        engine,
        [
            CrmEntry("lead", LEAD_GUID, "Yvonne McKay", ["yvonne.mckay@fourthcoffee.com"],
                     company_name="Fourth Coffee"),
            CrmEntry("contact", CONTACT_GUID, "Pat Lee", ["pat.lee@fabrikam.com"],
                     company_name="Fabrikam"),
        ],
    )  # fmt: skip
    return engine


def sender(n: int) -> dict[str, str]:
    return UNKNOWN if n == 9 else scenarios._user(n)


async def invoke(
    client: Client, connector: Connector, name: str, value: Any, n: int = 1, **kw: Any
) -> dict[str, Any]:
    """An invoke as Teams sends it from the compose box of a group chat."""
    body = teams.activity(
        "invoke",
        service_url=connector.service_url,
        sender=sender(n),
        conversation_type=kw.pop("conversation_type", "groupChat"),
        conversation_id="19:team-chat@thread.v2",
        name=name,
        value=value,
        **kw,
    )
    response = await client.post("/api/messages", json=body)
    assert response.status == 200, await response.text()
    answer: dict[str, Any] = await response.json()
    assert not connector.records  # answered in the HTTP response, nothing posted
    return answer


def query(text: str, *, skip: int = 0, initial: bool = False) -> dict[str, Any]:
    parameters = [{"name": "query", "value": text}]
    if initial:
        parameters = [{"name": "initialRun", "value": "true"}]
    return {
        "commandId": "whoKnows",
        "parameters": parameters,
        "queryOptions": {"skip": skip, "count": 25},
    }


def result_of(answer: dict[str, Any]) -> dict[str, Any]:
    extension: dict[str, Any] = answer["composeExtension"]
    return extension


def dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


# -- search ------------------------------------------------------------------------------


# People and strengths an inserted card's base content must never show: anyone in the
# conversation (guests too) sees it before or without a refresh.
NAMES = ("Blaine", "Tricia", "Ray", "Dana", "Yvonne", "McKay", "Fourth Coffee")
STRENGTHS = ("Strong", "Moderate", "Weak", " well")


def assert_names_nobody(card: dict[str, Any]) -> None:
    text = dump(card)
    assert not [word for word in NAMES + STRENGTHS if word in text], text


async def refresh(
    client: Client, connector: Connector, card: dict[str, Any], n: int = 1
) -> dict[str, Any]:
    """The card's Universal Actions refresh, as a viewer's Teams client sends it in the
    group chat the card was inserted into; returns the invoke answer."""
    value = {"action": card["refresh"]["action"], "trigger": "automatic"}
    return await invoke(client, connector, "adaptiveCard/action", value, n=n)


async def test_search_lists_the_lead_with_the_strongest_connection(
    client: Client, connector: Connector
) -> None:
    answer = result_of(
        await invoke(client, connector, "composeExtension/query", query("Yvonne McKay"))
    )
    assert (answer["type"], answer["attachmentLayout"]) == ("result", "list")
    (hit,) = answer["attachments"]
    # The list entry is seen by the searcher alone: it names the strongest connection.
    assert hit["preview"]["contentType"] == "application/vnd.microsoft.card.thumbnail"
    assert hit["preview"]["content"]["title"] == "Yvonne McKay"
    assert hit["preview"]["content"]["text"].startswith("Tricia Potter knows Yvonne well")
    # The card inserted into the conversation names nobody and shows no strength ...
    card = hit["content"]
    assert hit["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert card["version"] == "1.5"
    assert_names_nobody(card)
    assert len(dump(card).encode()) < 28 * 1024  # Teams' limit for extension results
    # ... and refreshes for the user who inserted it; Show me asks for anyone else.
    assert card["refresh"]["userIds"] == [scenarios._user(1)["id"]]
    assert card["refresh"]["action"]["verb"] == verbs.SHARED
    assert [a["verb"] for a in scenarios.actions(card)] == [verbs.SHARED, verbs.SHARED]
    # The refresh brings the inserter's own answer.
    mine = await refresh(client, connector, card, n=1)
    assert mine["type"] == "application/vnd.microsoft.card.adaptive"
    text = dump(mine["value"])
    assert text.index("Tricia Potter") < text.index("Ray Tanaka")
    assert {a["verb"] for a in scenarios.actions(mine["value"])} >= {
        verbs.DETAILS,
        verbs.INTRODUCE,
    }


async def test_a_viewer_who_may_not_ask_gets_no_names_by_refresh(
    client: Client, connector: Connector
) -> None:
    """Someone the directory does not know sees the base card; refreshing it (or Show me)
    gets the no-access card."""
    answer = result_of(
        await invoke(client, connector, "composeExtension/query", query("Fourth Coffee"))
    )
    for hit in answer["attachments"]:
        assert_names_nobody(hit["content"])
        refused = await refresh(client, connector, hit["content"], n=9)
        assert refused["type"] == "application/vnd.microsoft.card.adaptive"
        assert texts.NO_ACCESS_TITLE in dump(refused)
        assert_names_nobody(refused)


async def test_search_by_company_and_by_email(client: Client, connector: Connector) -> None:
    by_mail = result_of(
        await invoke(
            client, connector, "composeExtension/query", query("yvonne.mckay@fourthcoffee.com")
        )
    )
    assert [a["preview"]["content"]["title"] for a in by_mail["attachments"]] == ["Yvonne McKay"]
    by_company = result_of(
        await invoke(client, connector, "composeExtension/query", query("Fourth Coffee"))
    )
    titles = [a["preview"]["content"]["title"] for a in by_company["attachments"]]
    assert "Fourth Coffee" in titles


async def test_several_matches_are_each_a_result(client: Client, connector: Connector) -> None:
    answer = result_of(await invoke(client, connector, "composeExtension/query", query("Pat Lee")))
    subtitles = {a["preview"]["content"].get("subtitle") for a in answer["attachments"]}
    assert len(answer["attachments"]) == 2
    assert any("fabrikam" in (s or "").lower() for s in subtitles)
    assert any("northwind" in (s or "").lower() for s in subtitles)
    # Teams asks for the next page when the user scrolls: there is none.
    more = result_of(
        await invoke(client, connector, "composeExtension/query", query("Pat Lee", skip=25))
    )
    assert more["attachments"] == []


@pytest.mark.parametrize("value", [query(""), query("   "), query("", initial=True), {}, None])
async def test_empty_query_gets_a_hint(
    client: Client, connector: Connector, value: dict[str, Any] | None
) -> None:
    answer = result_of(await invoke(client, connector, "composeExtension/query", value))
    assert answer == {"type": "message", "text": texts.SEARCH_HINT}


async def test_unknown_query_gets_a_helpful_message(client: Client, connector: Connector) -> None:
    answer = result_of(
        await invoke(client, connector, "composeExtension/query", query("Zebulon Quux"))
    )
    assert answer["type"] == "message"
    assert "Zebulon Quux" in answer["text"] and "e-mail" in answer["text"]


async def test_unknown_user_gets_no_answer(client: Client, connector: Connector) -> None:
    answer = result_of(
        await invoke(client, connector, "composeExtension/query", query("Yvonne McKay"), n=9)
    )
    assert answer == {"type": "message", "text": texts.SEARCH_NOT_A_COLLEAGUE}


async def test_inserted_card_acts_for_whoever_clicks(
    client: Client, connector: Connector, session: Session
) -> None:
    lead = scenarios.person_id(session, "Yvonne McKay")
    tricia = scenarios.person_id(session, "Tricia Potter")
    # The refresh as Teams sends it for Ray: his own card, refreshed for him.
    refreshed = await scenarios.click(client, connector, verbs.SHARED, {"lead": lead}, n=3)
    card = refreshed["value"]
    assert card["refresh"]["userIds"] == [scenarios._user(3)["id"]]
    assert "Ray Tanaka" not in dump(card["body"])  # he is not his own connection
    # Get Introduced from the inserted card: Ray asks, as himself.
    compose = await scenarios.click(
        client, connector, verbs.INTRODUCE, {"lead": lead, "colleague": tricia}, n=3
    )
    assert "Ray Tanaka" in dump(compose["value"])
    # A viewer who is not a colleague gets no names.
    body = teams.execute(
        verbs.SHARED,
        {"verb": verbs.SHARED, "lead": lead},
        service_url=connector.service_url,
        sender=UNKNOWN,
    )
    response = await client.post("/api/messages", json=body)
    refused = await response.json()
    assert refused["type"] == "application/vnd.microsoft.card.adaptive"  # the no-access card
    assert texts.NO_ACCESS_TITLE in dump(refused)
    assert "Tricia" not in dump(refused)


# -- link unfurling ----------------------------------------------------------------------


@pytest.fixture
def crm(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("WHOKNOWS_DATAVERSE_URL", CRM)
    return CRM


async def unfurl(client: Client, connector: Connector, url: Any, n: int = 1) -> dict[str, Any]:
    return result_of(
        await invoke(client, connector, "composeExtension/queryLink", {"url": url}, n=n)
    )


async def test_a_lead_link_unfurls_into_a_card_that_names_nobody(
    client: Client, connector: Connector, crm: str
) -> None:
    """Everyone in the conversation reads an unfurled card, and Teams cannot refresh it
    for each viewer (1.3): it names nobody, not even the lead, and says where to ask."""
    links = (
        record_url("lead", LEAD_GUID),
        record_url("lead", LEAD_GUID, braces=True),
        record_url("contact", CONTACT_GUID),
    )
    for url in links:
        answer = await unfurl(client, connector, url)
        (hit,) = answer["attachments"]
        card = hit["content"]
        assert card["version"] == "1.3"  # the highest link unfurling accepts
        assert "refresh" not in card and not scenarios.actions(card)
        assert texts.UNFURL_TEXT in dump(card)
        assert_names_nobody(hit)
        assert "Pat Lee" not in dump(hit) and "Fabrikam" not in dump(hit)


@pytest.mark.parametrize(
    "url",
    [
        record_url("account", LEAD_GUID),  # not a lead or contact
        record_url("lead", CONTACT_GUID),  # a record id that is not a lead
        record_url("lead", MISSING_GUID),  # not in the store
        record_url("lead", "not-a-guid"),
        record_url("lead", LEAD_GUID, host="https://fabrikam.crm.dynamics.com"),
        record_url("lead", LEAD_GUID, host="https://contoso.crm.dynamics.com.evil.example"),
        record_url("lead", LEAD_GUID, host="http://contoso.crm.dynamics.com"),
        record_url("lead", LEAD_GUID, host="https://contoso.crm.dynamics.com:8443"),
        f"{CRM}/main.aspx",
        "not a url",
        12,
        None,
    ],
)
async def test_other_links_unfurl_into_nothing(
    client: Client, connector: Connector, crm: str, url: Any
) -> None:
    assert await unfurl(client, connector, url) == {
        "type": "result",
        "attachmentLayout": "list",
        "attachments": [],
    }


async def test_no_unfurling_without_a_dataverse_url(client: Client, connector: Connector) -> None:
    answer = await unfurl(client, connector, record_url("lead", LEAD_GUID))
    assert answer["attachments"] == []


async def test_unknown_user_gets_a_card_that_names_nobody(
    client: Client, connector: Connector, crm: str
) -> None:
    answer = await unfurl(client, connector, record_url("lead", LEAD_GUID), n=9)
    (hit,) = answer["attachments"]
    text = dump(hit)
    assert texts.ANONYMOUS_UNFURL_TITLE in text
    for name in ("Yvonne", "Tricia", "Ray", "Dana", "Fourth Coffee"):
        assert name not in text


async def test_anonymous_query_link_names_nobody(
    client: Client, connector: Connector, crm: str
) -> None:
    value = {"url": record_url("lead", LEAD_GUID)}
    answer = result_of(
        await invoke(client, connector, "composeExtension/anonymousQueryLink", value, n=9)
    )
    (hit,) = answer["attachments"]
    assert hit["content"]["version"] == "1.3"
    assert "Yvonne" not in dump(hit) and "Tricia" not in dump(hit)
    other = {"url": record_url("lead", LEAD_GUID, host="https://fabrikam.crm.dynamics.com")}
    nothing = result_of(
        await invoke(client, connector, "composeExtension/anonymousQueryLink", other, n=9)
    )
    assert nothing["attachments"] == []


# -- notify off / on ---------------------------------------------------------------------


async def test_notify_off_and_on(client: Client, connector: Connector, session: Session) -> None:
    blaine = scenarios.person_id(session, "Blaine Carmack")
    assert await scenarios.say(client, connector, "notify off") == texts.NOTIFY_OFF_DONE
    assert session.scalar(select(NotifyPreference.heads_up).where(
        NotifyPreference.person_id == blaine)) is False  # fmt: skip
    assert await scenarios.say(client, connector, "Notify on") == texts.NOTIFY_ON_DONE
    session.expire_all()
    assert session.get(NotifyPreference, blaine).heads_up is True  # type: ignore[union-attr]


async def test_a_sent_inserted_card_gets_no_answer(client: Client, connector: Connector) -> None:
    """Teams posts an inserted card with a placeholder for text; the bot stays quiet."""
    placeholder = (
        '<span class="inline-compose-card" itemid="0" '
        'itemtype="http://schema.skype.com/InputExtension"><span content="0" '
        'itemprop="cardId"></span></span>'
    )
    card = {"contentType": "application/vnd.microsoft.card.adaptive", "content": {"type": "x"}}
    body = teams.message(
        placeholder, service_url=connector.service_url, sender=scenarios._user(1),
        attachments=[card],
    )  # fmt: skip
    response = await client.post("/api/messages", json=body)
    assert response.status == 200
    assert connector.records == []
    # Without the card the same empty text still gets help.
    assert "help" in scenarios.card_text(await scenarios.say(client, connector, placeholder))


async def test_shared_cards_carry_nobodys_own_state(
    client: Client, connector: Connector, session: Session, crm: str
) -> None:
    """What goes into a conversation is the same whoever inserted it: Tricia's own search
    lists her like anyone else and says nothing about her requests."""
    lead = scenarios.person_id(session, "Yvonne McKay")
    ray = scenarios.person_id(session, "Ray Tanaka")
    await scenarios.click(
        client, connector, verbs.SEND, {"lead": lead, "colleague": ray, "note": "Hi"}, n=2
    )
    connector.clear()
    answer = result_of(
        await invoke(client, connector, "composeExtension/query", query("Yvonne McKay"), n=2)
    )
    card = answer["attachments"][0]["content"]
    assert_names_nobody(card)
    assert texts.REQUESTED not in dump(card) and "yourself" not in dump(card)
    unfurled = await unfurl(client, connector, record_url("lead", LEAD_GUID), n=2)
    assert_names_nobody(unfurled)
    # Her own view arrives by refresh: the request she made shows there.
    mine = await scenarios.click(client, connector, verbs.SHARED, {"lead": lead}, n=2)
    assert texts.REQUESTED in dump(mine["value"])
