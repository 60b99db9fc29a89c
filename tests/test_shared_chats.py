"""Channels and group chats, over HTTP as Teams sends them, on both SDK hosts: every member
sees what the bot posts there, so answers go to the asker's 1:1 chat with the bot and the
shared conversation gets a note that names nobody.

The organisation of tests/test_who_may_ask.py: Blaine (1) asks, Tricia, Ray and Dana know
Yvonne McKay; Gus (5) is a guest.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session

from cards import texts
from signals.models import GroupMember
from tests import teams
from tests import test_who_may_ask as who
from tests.connector import Connector, Recorded
from tests.test_bot_scenarios import card_text

pytestmark = pytest.mark.usefixtures("bot_sdk")

org = who.org
outbox = who.outbox
bot = who.bot
client = who.client
session = who.session
Client = who.Client

CHANNEL = "19:general-0000@thread.tacv2;messageid=1764670000000"
GROUP_CHAT = "19:meeting-0000@thread.v2"
# Stored data about Blaine that `my data` shows: never in a shared conversation.
PERSONAL = ("blaine.carmack@contoso.com", "Blaine Carmack")


def in_shared(text: str, n: int, conversation_type: str, service_url: str) -> dict[str, Any]:
    """A message addressed to the bot with an @mention in a channel or group chat."""
    conversation = CHANNEL if conversation_type == "channel" else GROUP_CHAT
    body = teams.mention_message(
        text, service_url=service_url, sender=who.sender(n), conversation_id=conversation
    )
    body["conversation"]["conversationType"] = conversation_type
    if conversation_type == "channel":
        body["channelData"] = {
            "tenant": {"id": teams.TENANT},
            "teamsTeamId": "19:team-0000@thread.tacv2",
            "teamsChannelId": "19:general-0000@thread.tacv2",
            "team": {"id": "19:team-0000@thread.tacv2"},
            "channel": {"id": "19:general-0000@thread.tacv2"},
        }
    return body


async def ask_in_shared(
    client: Client, connector: Connector, text: str, n: int, conversation_type: str
) -> tuple[list[Recorded], list[Recorded]]:
    """Send; returns (what the shared conversation got, everything else the bot sent)."""
    before = len(connector.records)
    body = in_shared(text, n, conversation_type, connector.service_url)
    response = await client.post("/api/messages", json=body)
    assert response.status == 200, await response.text()
    new = connector.records[before:]
    conversation = body["conversation"]["id"]
    return (
        [r for r in new if r.conversation_id == conversation],
        [r for r in new if r.conversation_id != conversation],
    )


def shown(record: Recorded) -> str:
    """What members see of a message: its text and cards (not the envelope, which
    addresses the reply to the asker)."""
    return card_text({k: record.body.get(k) for k in ("text", "attachments", "summary", "speak")})


def names_nobody(records: list[Recorded]) -> bool:
    text = " ".join(shown(r) for r in records)
    return not [name for name in who.NAMES + PERSONAL if name in text]


def the_note(shared: list[Recorded]) -> str | None:
    """The one message the shared conversation got, as text."""
    assert len(shared) == 1, shared
    return shared[0].text


async def open_one_to_one(client: Client, connector: Connector, n: int) -> str:
    """The user says help in their 1:1 chat with the bot (which remembers it)."""
    body = teams.message("help", service_url=connector.service_url, sender=who.sender(n))
    assert (await client.post("/api/messages", json=body)).status == 200
    connector.clear()
    return str(body["conversation"]["id"])


@pytest.mark.parametrize("conversation_type", ["channel", "groupChat"])
async def test_who_knows_is_answered_in_the_askers_one_to_one_chat(
    client: Client, connector: Connector, conversation_type: str
) -> None:
    """No 1:1 conversation is known yet: one is created for the asker's Entra id, then
    remembered, so the next answer goes to it without creating another."""
    shared, private = await ask_in_shared(
        client, connector, "who knows Yvonne McKay", 1, conversation_type
    )
    assert the_note(shared) == texts.SENT_PRIVATELY
    assert names_nobody(shared)
    created, sent = private
    assert created.kind == "create"
    assert [m.get("id") for m in created.body["members"]] == [who.sender(1)["aadObjectId"]]
    assert sent.kind == "send" and sent.conversation_id == created.conversation_id
    assert "Tricia Potter" in card_text(sent.cards[0])
    shared, private = await ask_in_shared(
        client, connector, "who knows anyone at Fourth Coffee", 1, conversation_type
    )
    assert the_note(shared) == texts.SENT_PRIVATELY and names_nobody(shared)
    assert [(r.kind, r.conversation_id) for r in private] == [("send", created.conversation_id)]
    assert "Tricia Potter" in card_text(private[0].cards[0])


async def test_the_stored_one_to_one_chat_is_used(client: Client, connector: Connector) -> None:
    one_to_one = await open_one_to_one(client, connector, 1)
    shared, private = await ask_in_shared(
        client, connector, "who knows Yvonne McKay", 1, "groupChat"
    )
    assert the_note(shared) == texts.SENT_PRIVATELY and names_nobody(shared)
    assert [(r.kind, r.conversation_id) for r in private] == [("send", one_to_one)]
    assert "Tricia Potter" in card_text(private[0].cards[0])


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("my data", "Blaine Carmack"),
        ("opt out", texts.OPT_OUT_CONFIRM_TITLE),
        ("notify off", texts.NOTIFY_OFF_DONE),
        ("notify on", texts.NOTIFY_ON_DONE),
    ],
)
async def test_own_data_and_settings_are_answered_privately(
    client: Client, connector: Connector, command: str, expected: str
) -> None:
    one_to_one = await open_one_to_one(client, connector, 1)
    shared, private = await ask_in_shared(client, connector, command, 1, "groupChat")
    assert the_note(shared) == texts.SENT_PRIVATELY and names_nobody(shared)
    [answer] = private
    assert answer.conversation_id == one_to_one
    assert expected.lower() in card_text(answer.body).lower()


async def test_opting_in_is_answered_privately(client: Client, connector: Connector) -> None:
    shared, private = await ask_in_shared(client, connector, "opt in", 1, "channel")
    assert the_note(shared) == texts.SENT_PRIVATELY and names_nobody(shared)
    assert [r.kind for r in private] == ["create", "send"]


@pytest.mark.parametrize("conversation_type", ["channel", "groupChat"])
async def test_a_guest_gets_only_the_no_access_card(
    client: Client, connector: Connector, conversation_type: str
) -> None:
    shared, private = await ask_in_shared(
        client, connector, "who knows Yvonne McKay", who.GUEST, conversation_type
    )
    assert private == []
    [reply] = shared
    who.assert_no_access(reply.cards[0])
    assert reply.text is None and len(reply.cards) == 1


async def test_no_one_to_one_chat_means_no_answer(client: Client, connector: Connector) -> None:
    """Teams refuses the 1:1 chat (the user blocked the bot): the shared conversation is
    told to ask in a 1:1 chat, and still sees no names."""
    connector.refuse(who.sender(1)["aadObjectId"], 403, "MessageWritesBlocked")
    shared, private = await ask_in_shared(client, connector, "who knows Yvonne McKay", 1, "channel")
    assert the_note(shared) == texts.ASK_PRIVATELY and names_nobody(shared)
    assert private == []
    shared, _ = await ask_in_shared(client, connector, "my data", 1, "groupChat")
    assert the_note(shared) == texts.ASK_PRIVATELY and names_nobody(shared)


async def test_a_stale_one_to_one_chat_falls_back_to_a_new_one(
    client: Client, connector: Connector
) -> None:
    one_to_one = await open_one_to_one(client, connector, 1)
    connector.refuse(one_to_one, 404, "ConversationNotFound")
    shared, private = await ask_in_shared(client, connector, "my data", 1, "groupChat")
    assert the_note(shared) == texts.SENT_PRIVATELY
    assert [r.kind for r in private] == ["create", "send"]
    assert "Blaine Carmack" in card_text(private[1].body)


async def test_help_stays_in_the_chat_and_names_nobody(
    client: Client, connector: Connector
) -> None:
    shared, private = await ask_in_shared(client, connector, "help", 1, "groupChat")
    assert private == [] and len(shared) == 1
    assert "opt out" in card_text(shared[0].body).lower()
    assert names_nobody(shared)


# -- cards inserted from the search extension ------------------------------------------------


async def invoke_in_chat(
    client: Client, connector: Connector, name: str, value: Any, n: int
) -> dict[str, Any]:
    """An invoke from a group chat (the compose box, or a viewer's card refresh)."""
    body = teams.activity(
        "invoke",
        service_url=connector.service_url,
        sender=who.sender(n),
        conversation_type="groupChat",
        conversation_id=GROUP_CHAT,
        name=name,
        value=value,
    )
    response = await client.post("/api/messages", json=body)
    assert response.status == 200, await response.text()
    answer: dict[str, Any] = await response.json()
    return answer


async def inserted_card(client: Client, connector: Connector) -> dict[str, Any]:
    """The card Blaine inserts into the group chat from the search extension."""
    value = {"commandId": "whoKnows", "parameters": [{"name": "query", "value": "Yvonne McKay"}]}
    answer = await invoke_in_chat(client, connector, "composeExtension/query", value, 1)
    [hit] = answer["composeExtension"]["attachments"]
    card: dict[str, Any] = hit["content"]
    assert not [name for name in who.NAMES if name in card_text(card)]
    return card


async def refreshed(
    client: Client, connector: Connector, card: dict[str, Any], n: int
) -> dict[str, Any]:
    """What viewer ``n`` gets when Teams refreshes the card for them."""
    value = {"action": card["refresh"]["action"], "trigger": "automatic"}
    answer = await invoke_in_chat(client, connector, "adaptiveCard/action", value, n)
    assert answer["type"] == "application/vnd.microsoft.card.adaptive"
    view: dict[str, Any] = answer["value"]
    return view


@pytest.mark.parametrize(
    "n", [who.GUEST, who.DISABLED, who.DEPARTED, who.UNKNOWN], ids=lambda n: str(n)
)
async def test_an_inserted_card_refreshes_to_no_access(
    client: Client, connector: Connector, n: int
) -> None:
    card = await inserted_card(client, connector)
    who.assert_no_access(await refreshed(client, connector, card, n))
    assert "Tricia Potter" in card_text(await refreshed(client, connector, card, 1))
    assert connector.records == []  # answered in the HTTP responses, nothing posted


async def test_an_inserted_card_refreshes_for_the_allowed_groups_only(
    client: Client, connector: Connector, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WHOKNOWS_ALLOWED_GROUPS", who.SALES_GROUP)
    session.add(GroupMember(group_id=who.SALES_GROUP, person_id=who.pid(session, "Blaine Carmack")))
    session.commit()
    card = await inserted_card(client, connector)
    assert "Tricia Potter" in card_text(await refreshed(client, connector, card, 1))
    who.assert_no_access(await refreshed(client, connector, card, 3))  # Ray: not in the group


async def test_the_welcome_in_a_team_greets_nobody(client: Client, connector: Connector) -> None:
    body = teams.installation(
        "add",
        service_url=connector.service_url,
        sender=who.sender(1),
        conversation_id=CHANNEL,
        conversation_type="channel",
    )
    assert (await client.post("/api/messages", json=body)).status == 200
    [welcome] = connector.records
    assert welcome.conversation_id == CHANNEL
    assert "Welcome to Whoknows" in shown(welcome) and names_nobody([welcome])
