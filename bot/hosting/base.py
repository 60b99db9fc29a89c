"""What every host does, free of any SDK: one activity in, one HTTP answer out.

A host module (:mod:`bot.hosting.botbuilder`, :mod:`bot.hosting.agents`) supplies four
SDK-specific steps (parse an activity, check a token's signature, run a turn with a
:class:`bot.turn.Reply`, send one proactive message); :class:`HostBase` does the rest the
same way for both: the token checks that need no SDK, the tenant policy, routing of
messages, invokes and installs to the :class:`bot.turn.Bot`, polite failures, and
retries of throttled proactive sends within a time budget.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from bot import settings
from bot.auth import AuthConfig
from bot.hosting.openid import SigningKeys, bearer_token, unverified
from bot.turn import (
    Bot,
    Card,
    Content,
    ConversationReference,
    Delivery,
    DeliveryError,
    HostTexts,
    InvokeResult,
    Proactive,
    Reply,
    Turn,
    UserAddress,
)

log = logging.getLogger("whoknows.bot")

A = TypeVar("A")
"""The SDK's activity type."""
I = TypeVar("I")  # noqa: E741
"""The SDK's authenticated identity (what its adapter needs to run a turn)."""
T = TypeVar("T")


@dataclass(frozen=True)
class HostResponse:
    """What ``/api/messages`` answers: an HTTP status and an optional JSON body."""

    status: int
    body: Any = None


def unauthorized(reason: str) -> HostResponse:
    return HostResponse(401, {"error": "unauthorized", "message": reason})


class BadActivity(ValueError):
    """The body is JSON but not an activity the SDK can read (answered with 400)."""


@dataclass(frozen=True)
class HostLimits:
    """Time limits on the host's outbound calls (seconds)."""

    openid_timeout: float = 5.0
    connector_timeout: float = 10.0
    connector_budget: float = 30.0

    @classmethod
    def from_settings(cls) -> HostLimits:
        return cls(
            openid_timeout=settings.BOT_OPENID_TIMEOUT_SECONDS.get(),
            connector_timeout=settings.CONNECTOR_TIMEOUT_SECONDS.get(),
            connector_budget=settings.CONNECTOR_BUDGET_SECONDS.get(),
        )


@dataclass(frozen=True)
class VerifiedKey:
    """The signing key a token names, from the metadata its issuer is configured with."""

    metadata_url: str
    keys: SigningKeys
    jwk: Mapping[str, Any]


class Host(Protocol):
    """What the web server needs of a host, whichever SDK it wraps."""

    @property
    def sdk(self) -> str:
        """``botbuilder`` or ``agents``."""
        ...

    @property
    def sdk_version(self) -> str:
        """The version of the SDK's core package."""
        ...

    @property
    def proactive(self) -> Proactive:
        """Sending outside a turn: to a stored conversation, or a new one with a user."""
        ...

    async def handle(self, body: Mapping[str, Any], auth_header: str | None) -> HostResponse:
        """Authenticate one activity and run it through the bot."""
        ...

    async def close(self) -> None:
        """Release HTTP sessions."""
        ...


# --- proactive sends with retries inside a budget ---------------------------------------------

RETRIED_STATUSES = frozenset({412, 429, 502, 503, 504})
"""Teams' answers worth another try: throttling (7 per second, 60 per 30 s per
conversation) and transient gateway errors."""


class SendOnce(Protocol):
    """One attempt of a proactive operation through an SDK (raises DeliveryError)."""

    async def send_once(
        self, target: ConversationReference | UserAddress, content: Content
    ) -> Delivery: ...

    async def update_once(
        self, reference: ConversationReference, activity_id: str, card: Card
    ) -> None: ...


class RetryingProactive:
    """:class:`bot.turn.Proactive` over one SDK's single attempts.

    Each attempt gets ``limits.connector_timeout`` seconds; throttled and transient
    failures are retried with exponential backoff and jitter (``attempts`` in all) while
    the whole operation stays within ``limits.connector_budget``; other refusals (blocked,
    not installed) raise at once.
    """

    def __init__(
        self,
        sdk: SendOnce,
        limits: HostLimits,
        *,
        attempts: int = 4,
        base_delay: float = 0.5,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._sdk = sdk
        self.limits = limits
        self.attempts = attempts
        self.base_delay = base_delay
        self.sleep = sleep

    async def _attempt(self, call: Callable[[], Awaitable[T]], timeout: float) -> T:
        try:
            async with asyncio.timeout(timeout):
                return await call()
        except TimeoutError as exc:
            raise DeliveryError(
                f"the Bot Connector did not answer within {timeout:g} s", status=504
            ) from exc

    async def retrying(self, call: Callable[[], Awaitable[T]]) -> T:
        deadline = time.monotonic() + self.limits.connector_budget
        for attempt in range(1, self.attempts + 1):
            left = deadline - time.monotonic()
            try:
                return await self._attempt(call, min(self.limits.connector_timeout, left))
            except DeliveryError as exc:
                delay = self.base_delay * 2 ** (attempt - 1) * (1 + random.random())
                left = deadline - time.monotonic()
                if exc.status not in RETRIED_STATUSES or attempt == self.attempts:
                    raise
                if delay >= left:
                    raise DeliveryError(
                        f"{exc} (no time left to retry)", status=exc.status, code=exc.code
                    ) from exc
                log.info("Teams answered %s, retrying in %.1f s", exc.status, delay)
                await self.sleep(delay)
        raise AssertionError("unreachable")

    async def send_to_user(
        self, target: ConversationReference | UserAddress, content: Content
    ) -> Delivery:
        return await self.retrying(lambda: self._sdk.send_once(target, content))

    async def update_for_user(
        self, reference: ConversationReference, activity_id: str, card: Card
    ) -> None:
        await self.retrying(lambda: self._sdk.update_once(reference, activity_id, card))


class ProactiveReply:
    """The :class:`bot.turn.Proactive` half of a turn's reply, the same on every SDK: it
    hands sends to other conversations to the host's :class:`RetryingProactive`."""

    def __init__(self, proactive: RetryingProactive) -> None:
        self._proactive = proactive

    async def send_to_user(
        self, target: ConversationReference | UserAddress, content: Content
    ) -> Delivery:
        return await self._proactive.send_to_user(target, content)

    async def update_for_user(
        self, reference: ConversationReference, activity_id: str, card: Card
    ) -> None:
        await self._proactive.update_for_user(reference, activity_id, card)


# --- the host ---------------------------------------------------------------------------------


def _is_install(turn: Turn) -> bool:
    if turn.type == "installationUpdate":
        return (turn.action or "").startswith("add")
    if turn.type == "conversationUpdate":
        return bool(turn.recipient_id) and turn.recipient_id in turn.members_added
    return False


TurnLogic = Callable[[Reply], Awaitable[None]]


class HostBase(ABC, Generic[A, I]):
    """Runs a :class:`bot.turn.Bot` behind Bot Framework authentication on one SDK."""

    sdk: ClassVar[str]
    sdk_version: str

    def __init__(
        self,
        bot: Bot,
        config: AuthConfig | None,
        texts: HostTexts | None,
        limits: HostLimits | None,
    ) -> None:
        self.bot = bot
        self.config = config or AuthConfig.from_settings()
        self.texts = texts or HostTexts()
        self.limits = limits or HostLimits.from_settings()
        self._keys: dict[str, SigningKeys] = {}

    # -- the SDK's part

    @abstractmethod
    def parse(self, body: Mapping[str, Any]) -> A:
        """The SDK's activity; raises :class:`BadActivity`."""

    @abstractmethod
    async def verify(self, activity: A, auth_header: str | None, key: VerifiedKey | None) -> I:
        """Let the SDK validate the token (signature, audience, issuer, service URL) with
        ``key`` and return its identity; raise on any failure. ``auth_header`` and ``key``
        are None in development mode (no app id)."""

    @abstractmethod
    async def process(self, activity: A, identity: I, logic: TurnLogic) -> HostResponse | None:
        """Run one turn through the SDK's adapter; ``logic`` gets a Reply for its context.
        Returns the answer of ``deliveryMode: expectReplies``, else None."""

    # -- authentication

    def signing_keys(self, metadata_url: str) -> SigningKeys:
        keys = self._keys.get(metadata_url)
        if keys is None:
            keys = self._keys[metadata_url] = SigningKeys(
                metadata_url, timeout=self.limits.openid_timeout
            )
        return keys

    async def _key(self, auth_header: str) -> VerifiedKey | HostResponse:
        """The key a token names, from its issuer's configured metadata: checked before the
        SDK sees the token, so the SDK never fetches keys itself."""
        token = bearer_token(auth_header)
        parts = unverified(token) if token else None
        if parts is None:
            return unauthorized("invalid token")
        header, claims = parts
        url = self.config.key_source(claims.get("iss"))
        kid = header.get("kid")
        if url is None or not isinstance(kid, str):
            return unauthorized("invalid token")
        keys = self.signing_keys(url)
        jwk = await keys.find(kid)
        if jwk is None:
            if url == self.config.metadata_url and not keys.usable:
                return HostResponse(503, {"error": "unavailable", "message": "signing keys"})
            return unauthorized("invalid token")
        return VerifiedKey(url, keys, jwk)

    async def authenticate(self, activity: A, auth_header: str | None) -> I | HostResponse:
        key: VerifiedKey | None = None
        if self.config.dev_mode:
            # Local development: the Agents Playground may send a token nobody can check.
            auth_header = None
        elif not auth_header:
            return unauthorized("a Bot Framework token is required")
        else:
            found = await self._key(auth_header)
            if isinstance(found, HostResponse):
                return found
            key = found
        try:
            return await self.verify(activity, auth_header, key)
        except Exception as exc:  # PermissionError, jwt errors, malformed headers, ...
            log.info("rejected a request: %s: %s", type(exc).__name__, exc)
            return unauthorized("invalid token")

    # -- turns

    async def handle(self, body: Mapping[str, Any], auth_header: str | None) -> HostResponse:
        """Authenticate one activity and run it through the bot."""
        try:
            activity = self.parse(body)
        except BadActivity as exc:
            return HostResponse(400, {"error": "bad activity", "message": str(exc)})
        turn = Turn.from_activity(body)
        if not turn.type:
            return HostResponse(400, {"error": "bad activity", "message": "no type"})
        identity = await self.authenticate(activity, auth_header)
        if isinstance(identity, HostResponse):
            return identity
        if not self.config.tenant_allowed(turn.tenant_id):
            return await self._refuse(turn, activity, identity)
        if turn.type == "message":
            return await self._run(activity, identity, lambda io: self.bot.on_message(turn, io))
        if turn.type == "invoke":
            return await self._invoke(activity, identity, turn)
        if _is_install(turn):
            return await self._run(activity, identity, lambda io: self.bot.on_install(turn, io))
        return HostResponse(200)

    async def _apologise(self, io: Reply, what: str) -> None:
        reference = uuid.uuid4().hex[:12]
        log.exception("%s failed (reference %s)", what, reference)
        try:
            await io.send(self.texts.failure.format(reference=reference))
        except Exception:
            log.exception("could not apologise (reference %s)", reference)

    async def _run(self, activity: A, identity: I, handler: TurnLogic) -> HostResponse:
        async def logic(io: Reply) -> None:
            try:
                await handler(io)
            except Exception:
                await self._apologise(io, "turn")

        answer = await self.process(activity, identity, logic)
        return answer or HostResponse(200)

    async def answer_invoke(self, turn: Turn, io: Reply) -> InvokeResult:
        """The one place invokes (``adaptiveCard/action``, message extensions, ...) are
        answered, for every host: the bot's result, or a polite failure."""
        try:
            return await self.bot.on_invoke(turn, io)
        except Exception:
            reference = uuid.uuid4().hex[:12]
            log.exception("invoke %s failed (reference %s)", turn.name, reference)
            return InvokeResult.message(self.texts.failure.format(reference=reference))

    async def _invoke(self, activity: A, identity: I, turn: Turn) -> HostResponse:
        answer: list[InvokeResult] = []

        async def logic(io: Reply) -> None:
            answer.append(await self.answer_invoke(turn, io))

        await self.process(activity, identity, logic)
        result = answer[0] if answer else InvokeResult(200)
        return HostResponse(result.status, result.body)

    async def _refuse(self, turn: Turn, activity: A, identity: I) -> HostResponse:
        log.info("refused an activity from tenant %r", turn.tenant_id)
        if turn.type == "invoke":
            result = InvokeResult.error(403, "Forbidden", self.texts.foreign_tenant)
            return HostResponse(result.status, result.body)
        if turn.type != "message":
            return HostResponse(200)

        async def say_no(io: Reply) -> None:
            await io.send(self.texts.foreign_tenant)

        return await self._run(activity, identity, say_no)
