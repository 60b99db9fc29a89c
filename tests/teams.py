"""Teams-shaped activities (as the Agents Playground and Teams send them) for tests.

Identities are generated: ``TENANT`` is the demo tenant, ``BOT_ID`` the bot's channel id.
"""

from __future__ import annotations

import itertools
from typing import Any

TENANT = "00000000-0000-4000-8000-00000000c0de"
OTHER_TENANT = "00000000-0000-4000-8000-0000000000ff"
BOT_ID = "28:00000000-0000-4000-8000-0000000b0700"
BOT_NAME = "WhoKnows"

_ids = itertools.count(1)


def user(n: int = 1, name: str | None = None) -> dict[str, str]:
    """A generated Teams user: channel id, display name and Entra object id."""
    return {
        "id": f"29:user-{n}",
        "name": name or f"User {n}",
        "aadObjectId": f"00000000-0000-4000-8000-{n:012d}",
    }


def activity(
    type_: str,
    *,
    service_url: str,
    sender: dict[str, str] | None = None,
    conversation_id: str | None = None,
    conversation_type: str = "personal",
    tenant: str = TENANT,
    **fields: Any,
) -> dict[str, Any]:
    """The envelope every Teams activity shares."""
    sender = sender or user()
    return {
        "type": type_,
        "id": f"incoming-{next(_ids)}",
        "timestamp": "2026-01-15T10:00:00.000Z",
        "channelId": "msteams",
        "serviceUrl": service_url,
        "from": sender,
        "recipient": {"id": BOT_ID, "name": BOT_NAME},
        "conversation": {
            "id": conversation_id or f"a:chat-{sender['id']}",
            "conversationType": conversation_type,
            "tenantId": tenant,
            **({"isGroup": True} if conversation_type != "personal" else {}),
        },
        "channelData": {"tenant": {"id": tenant}},
        "locale": "en-US",
        **fields,
    }


def message(text: str, *, service_url: str, **kw: Any) -> dict[str, Any]:
    return activity("message", service_url=service_url, text=text, textFormat="plain", **kw)


def mention_message(text: str, *, service_url: str, **kw: Any) -> dict[str, Any]:
    """A group-chat message addressed to the bot with an ``<at>`` mention."""
    at = f"<at>{BOT_NAME}</at>"
    body = message(f"{at} {text}", service_url=service_url, conversation_type="groupChat", **kw)
    body["entities"] = [
        {"type": "mention", "text": at, "mentioned": {"id": BOT_ID, "name": BOT_NAME}}
    ]
    return body


def execute(verb: str, data: dict[str, Any], *, service_url: str, **kw: Any) -> dict[str, Any]:
    """An Action.Execute click: invoke ``adaptiveCard/action``."""
    value = {"action": {"type": "Action.Execute", "verb": verb, "data": data}, "trigger": "manual"}
    return activity(
        "invoke", service_url=service_url, name="adaptiveCard/action", value=value, **kw
    )


def installation(action: str = "add", *, service_url: str, **kw: Any) -> dict[str, Any]:
    return activity("installationUpdate", service_url=service_url, action=action, **kw)


def members_added(*member_ids: str, service_url: str, **kw: Any) -> dict[str, Any]:
    members = [{"id": m} for m in member_ids]
    return activity("conversationUpdate", service_url=service_url, membersAdded=members, **kw)
