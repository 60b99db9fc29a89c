"""What the conversation logic sees of Teams, free of any Bot Framework SDK.

The hosting layer (``bot.hosting``) turns each incoming activity into a :class:`Turn`
and hands it to a :class:`Bot` together with a :class:`Reply` for answering. Keeping the
logic on these small types lets either SDK host it (botbuilder or the Microsoft 365 Agents
SDK, ``WHOKNOWS_BOT_SDK``) without touching it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from cards import texts

ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
ACTIVITY_MESSAGE = "application/vnd.microsoft.activity.message"
INVOKE_ERROR = "application/vnd.microsoft.error"

Card = Mapping[str, Any]
"""An Adaptive Card as a JSON-ready dict."""
Content = str | Card
"""What a reply carries: plain text, or one Adaptive Card."""


def _dict(value: object) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def _opt(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


@dataclass(frozen=True)
class ConversationReference:
    """Where to send to a user later: enough to continue a conversation proactively.

    Stored as JSON (:meth:`to_dict` / :meth:`from_dict`) so any server process can use it.
    """

    conversation_id: str
    service_url: str
    tenant_id: str | None = None
    channel_id: str = "msteams"
    conversation_type: str | None = None
    user_id: str | None = None
    user_aad_object_id: str | None = None
    bot_id: str | None = None
    bot_name: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ConversationReference:
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True)
class UserAddress:
    """A Teams user the bot has never talked to: reached by creating a 1:1 conversation.

    Teams needs the app installed for that user (see docs); ``bot_id`` defaults to
    ``28:<MicrosoftAppId>``.
    """

    aad_object_id: str
    tenant_id: str
    service_url: str
    bot_id: str | None = None


@dataclass(frozen=True)
class Delivery:
    """Where a proactive message landed: store ``reference`` and ``activity_id`` to update it."""

    reference: ConversationReference
    activity_id: str


class DeliveryError(RuntimeError):
    """Teams refused or could not take a message (e.g. 403 the user blocked the bot).

    ``status`` is the connector's HTTP status (0 when it was not reached) and ``code``
    its error code (``MessageWritesBlocked``, ``ConversationNotFound``, ...).
    """

    def __init__(self, message: str, *, status: int = 0, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass(frozen=True)
class InvokeResult:
    """The HTTP answer to an invoke (Action.Execute): status and JSON body."""

    status: int = 200
    body: dict[str, Any] | None = None

    @classmethod
    def card(cls, card: Card) -> InvokeResult:
        """Replace the clicked card with ``card``."""
        return cls(200, {"statusCode": 200, "type": ADAPTIVE_CARD, "value": dict(card)})

    @classmethod
    def message(cls, text: str) -> InvokeResult:
        """Show ``text`` to the user who clicked (the card stays as it is)."""
        return cls(200, {"statusCode": 200, "type": ACTIVITY_MESSAGE, "value": text})

    @classmethod
    def error(cls, status: int, code: str, message: str) -> InvokeResult:
        """A Universal Actions error response, sent with HTTP ``status``."""
        body = {
            "statusCode": status,
            "type": INVOKE_ERROR,
            "value": {"code": code, "message": message},
        }
        return cls(status, body)


_AT = re.compile(r"<at>(.*?)</at>", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class Turn:
    """One incoming activity, reduced to what the conversation logic reads."""

    type: str
    name: str | None
    text: str
    value: Any
    from_id: str
    from_name: str
    from_aad_object_id: str | None
    conversation_id: str
    conversation_type: str | None
    tenant_id: str | None
    service_url: str
    channel_id: str
    channel_data: dict[str, Any]
    reply_to_id: str | None
    activity_id: str | None
    recipient_id: str
    recipient_name: str
    action: str | None
    members_added: tuple[str, ...]
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_activity(cls, activity: Mapping[str, Any]) -> Turn:
        sender = _dict(activity.get("from"))
        conversation = _dict(activity.get("conversation"))
        recipient = _dict(activity.get("recipient"))
        channel_data = _dict(activity.get("channelData"))
        members = activity.get("membersAdded")
        return cls(
            type=_str(activity.get("type")),
            name=_opt(activity.get("name")),
            text=_str(activity.get("text")),
            value=activity.get("value"),
            from_id=_str(sender.get("id")),
            from_name=_str(sender.get("name")),
            from_aad_object_id=_opt(sender.get("aadObjectId")),
            conversation_id=_str(conversation.get("id")),
            conversation_type=_opt(conversation.get("conversationType")),
            tenant_id=tenant_of(activity),
            service_url=_str(activity.get("serviceUrl")),
            channel_id=_str(activity.get("channelId")),
            channel_data=channel_data,
            reply_to_id=_opt(activity.get("replyToId")),
            activity_id=_opt(activity.get("id")),
            recipient_id=_str(recipient.get("id")),
            recipient_name=_str(recipient.get("name")),
            action=_opt(activity.get("action")),
            members_added=tuple(
                _str(_dict(m).get("id")) for m in (members if isinstance(members, list) else [])
            ),
            raw=dict(activity),
        )

    @property
    def command_text(self) -> str:
        """The text without ``<at>…</at>`` mentions, whitespace collapsed (group chats)."""
        return " ".join(_AT.sub(" ", self.text).split())

    @property
    def verb(self) -> str | None:
        """The Action.Execute verb of an ``adaptiveCard/action`` invoke."""
        action = _dict(_dict(self.value).get("action"))
        return _opt(action.get("verb"))

    @property
    def action_data(self) -> dict[str, Any]:
        """Action.Execute data (inputs merged in), or an Action.Submit message's value."""
        value = _dict(self.value)
        if self.type == "invoke":
            return _dict(_dict(value.get("action")).get("data"))
        return value

    def reference(self) -> ConversationReference:
        """This conversation, for answering later (store it as JSON)."""
        return ConversationReference(
            conversation_id=self.conversation_id,
            service_url=self.service_url,
            tenant_id=self.tenant_id,
            channel_id=self.channel_id or "msteams",
            conversation_type=self.conversation_type,
            user_id=self.from_id or None,
            user_aad_object_id=self.from_aad_object_id,
            bot_id=self.recipient_id or None,
            bot_name=self.recipient_name or None,
        )


def tenant_of(activity: Mapping[str, Any]) -> str | None:
    """The tenant an activity comes from: channelData.tenant.id, else conversation.tenantId."""
    tenant = _opt(_dict(_dict(activity.get("channelData")).get("tenant")).get("id"))
    return tenant or _opt(_dict(activity.get("conversation")).get("tenantId"))


class Proactive(Protocol):
    """Sending outside the current conversation (introductions, notifications, late updates)."""

    async def send_to_user(
        self, target: ConversationReference | UserAddress, content: Content
    ) -> Delivery:
        """Send to a user's 1:1 chat: continue a stored conversation or create one.

        Raises :class:`DeliveryError` when Teams refuses (not installed, blocked, gone).
        """
        ...

    async def update_for_user(
        self, reference: ConversationReference, activity_id: str, card: Card
    ) -> None:
        """Replace an earlier message (``activity_id``) in that conversation with ``card``."""
        ...


class Reply(Proactive, Protocol):
    """Answering within the current turn; also carries the :class:`Proactive` methods."""

    async def send(self, content: Content) -> str:
        """Post text or a card into the current conversation; returns the new activity id."""
        ...

    async def update(self, activity_id: str, card: Card) -> None:
        """Replace a message of the current conversation with ``card``."""
        ...


class Bot(Protocol):
    """The conversation logic. Exceptions are logged and answered politely by the host."""

    async def on_message(self, turn: Turn, io: Reply) -> None:
        """A message: typed text, or an Action.Submit click (``turn.value``)."""
        ...

    async def on_invoke(self, turn: Turn, io: Reply) -> InvokeResult:
        """An invoke, e.g. ``adaptiveCard/action`` (Action.Execute); its result is the answer."""
        ...

    async def on_install(self, turn: Turn, io: Reply) -> None:
        """The app was added (installationUpdate add, or conversationUpdate adding the bot).

        Both events may arrive for one install: keep a ``welcomed`` flag in the store.
        """
        ...


@dataclass(frozen=True)
class HostTexts:
    """What the host itself says to users; the wording lives in ``cards.texts``."""

    foreign_tenant: str = texts.FOREIGN_TENANT
    failure: str = texts.HOST_FAILURE
