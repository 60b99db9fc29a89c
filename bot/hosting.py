"""The one module that knows the Bot Framework SDK (botbuilder 4.17.1).

It adapts botbuilder's ``CloudAdapter`` and ``ConfigurationBotFrameworkAuthentication`` to
the SDK-free protocol of :mod:`bot.turn`. It works around the 4.17.1 defect of
``CloudAdapter.process`` (HTTP 500 for every invoke) by authenticating and running the
activity itself, and it maps every authentication failure to 401.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import urllib.request
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any, TypeVar

from botbuilder.core import TurnContext
from botbuilder.integration.aiohttp import (
    CloudAdapter,
    ConfigurationBotFrameworkAuthentication,
    ConfigurationServiceClientCredentialFactory,
)
from botbuilder.schema import (
    Activity,
    ActivityTypes,
    Attachment,
    CallerIdConstants,
    ChannelAccount,
    ConversationAccount,
    ConversationParameters,
)
from botbuilder.schema import ConversationReference as SdkReference
from botframework.connector.auth import (
    AuthenticateRequestResult,
    AuthenticationConstants,
    BotFrameworkAuthentication,
    ClaimsIdentity,
    ConnectorFactory,
    MicrosoftAppCredentials,
    ServiceClientCredentialsFactory,
)
from botframework.connector.auth.jwt_token_extractor import JwtTokenExtractor
from msrest.exceptions import ClientRequestError, HttpOperationError

from bot.auth import AuthConfig
from bot.turn import (
    ADAPTIVE_CARD,
    Bot,
    Card,
    Content,
    ConversationReference,
    Delivery,
    DeliveryError,
    HostTexts,
    InvokeResult,
    Turn,
    UserAddress,
    tenant_of,
)

log = logging.getLogger("whoknows.bot")

KEY_REFRESH_AFTER = timedelta(hours=12)
"""Refresh signing keys (off the event loop) well before the SDK's own daily, blocking refresh."""
KEY_FETCH_TIMEOUT = 10.0
SDK_KEY_MAX_AGE = timedelta(days=1)
MAX_CONNECTORS = 64
"""Connector clients kept for reuse (one per serviceUrl; Teams uses a handful)."""


@dataclass(frozen=True)
class HostResponse:
    """What ``/api/messages`` answers: an HTTP status and an optional JSON body."""

    status: int
    body: Any = None


def _unauthorized(reason: str) -> HostResponse:
    return HostResponse(401, {"error": "unauthorized", "message": reason})


# --- credentials ---------------------------------------------------------------------------


class _StaticTokenCredentials(MicrosoftAppCredentials):  # type: ignore[misc]
    """Sends a fixed bearer token: for tests and local stand-ins of the Bot Connector."""

    def __init__(self, app_id: str, token: str) -> None:
        super().__init__(app_id, "")
        self._token = token

    def get_access_token(self, force_refresh: bool = False) -> str:
        return self._token


class _StaticTokenFactory(ServiceClientCredentialsFactory):  # type: ignore[misc]
    """Validates app ids like the configured factory but never asks Entra for a token."""

    def __init__(self, inner: ServiceClientCredentialsFactory, token: str) -> None:
        self._inner = inner
        self._token = token

    async def is_valid_app_id(self, app_id: str) -> bool:
        return bool(await self._inner.is_valid_app_id(app_id))

    async def is_authentication_disabled(self) -> bool:
        return bool(await self._inner.is_authentication_disabled())

    async def create_credentials(
        self, app_id: str, oauth_scope: str, login_endpoint: str, validate_authority: bool
    ) -> Any:
        if await self.is_authentication_disabled():
            return MicrosoftAppCredentials.empty()
        return _StaticTokenCredentials(app_id, self._token)


class _ReusedConnectors:
    """One ConnectorClient per (app id, serviceUrl, audience) instead of two new clients a turn.

    botbuilder builds a ConnectorClient and a token client for every turn; each costs
    milliseconds of CPU (msrest's retry table) and a fresh HTTP session. The connector's
    session and credentials (which refresh their own token) are safe to share.
    """

    def __init__(self) -> None:
        self.clients: dict[tuple[str, str, str], Any] = {}

    def factory(self, inner: ConnectorFactory, app_id: str) -> ConnectorFactory:
        return _ReusingConnectorFactory(self, inner, app_id or "")

    async def close(self) -> None:
        clients, self.clients = list(self.clients.values()), {}
        for client in clients:
            try:
                await client.__aexit__(None, None, None)
            except Exception as exc:
                log.debug("closing a connector client: %s", exc)


class _ReusingConnectorFactory(ConnectorFactory):  # type: ignore[misc]
    def __init__(self, pool: _ReusedConnectors, inner: ConnectorFactory, app_id: str) -> None:
        self._pool = pool
        self._inner = inner
        self._app_id = app_id

    async def create(self, service_url: str, audience: str | None = None) -> Any:
        key = (self._app_id, service_url, audience or "")
        client = self._pool.clients.get(key)
        if client is None:
            client = await self._inner.create(service_url, audience)
            if len(self._pool.clients) >= MAX_CONNECTORS:  # drop the oldest; GC closes it
                self._pool.clients.pop(next(iter(self._pool.clients)))
            client = self._pool.clients.setdefault(key, client)
        return client


def _app_id(identity: ClaimsIdentity) -> str:
    """The app id the SDK's connector factory uses: the audience, else the appid claim."""
    claims = identity.claims
    value = claims.get(AuthenticationConstants.AUDIENCE_CLAIM) or claims.get(
        AuthenticationConstants.APP_ID_CLAIM
    )
    return str(value or "")


class _Authentication(BotFrameworkAuthentication):  # type: ignore[misc]
    """The configured authentication, reusing connector clients and skipping the user token
    client (OAuth sign-in cards are not used)."""

    def __init__(self, inner: BotFrameworkAuthentication, pool: _ReusedConnectors) -> None:
        self._inner = inner
        self._pool = pool

    async def authenticate_request(
        self, activity: Activity, auth_header: str | None
    ) -> AuthenticateRequestResult:
        result = await self._inner.authenticate_request(activity, auth_header)
        result.connector_factory = self._pool.factory(
            result.connector_factory, _app_id(result.claims_identity)
        )
        return result

    async def authenticate_streaming_request(
        self, auth_header: str, channel_id_header: str
    ) -> AuthenticateRequestResult:
        return await self._inner.authenticate_streaming_request(auth_header, channel_id_header)

    def create_connector_factory(self, claims_identity: ClaimsIdentity) -> ConnectorFactory:
        inner = self._inner.create_connector_factory(claims_identity)
        return self._pool.factory(inner, _app_id(claims_identity))

    async def create_user_token_client(self, claims_identity: ClaimsIdentity) -> None:
        return None

    def create_bot_framework_client(self) -> Any:
        return self._inner.create_bot_framework_client()

    def get_originating_audience(self) -> str:
        return str(self._inner.get_originating_audience())

    async def authenticate_channel_request(self, auth_header: str) -> ClaimsIdentity:
        return await self._inner.authenticate_channel_request(auth_header)


def _sdk_configuration(config: AuthConfig) -> SimpleNamespace:
    """The attribute bag ConfigurationBotFrameworkAuthentication reads."""
    conf = SimpleNamespace(
        APP_ID=config.app_id or None,
        APP_PASSWORD=config.app_password or None,
        APP_TYPE=config.app_type,
        APP_TENANTID=config.app_tenant_id or None,
    )
    if config.openid_metadata_url:
        # Any parameterised value switches the SDK to its parameterised authentication,
        # which then needs all of them (defaults: public cloud).
        conf.VALIDATE_AUTHORITY = True
        conf.TO_CHANNEL_FROM_BOT_LOGIN_URL = AuthenticationConstants.TO_CHANNEL_FROM_BOT_LOGIN_URL
        conf.TO_CHANNEL_FROM_BOT_OAUTH_SCOPE = (
            AuthenticationConstants.TO_CHANNEL_FROM_BOT_OAUTH_SCOPE
        )
        conf.TO_BOT_FROM_CHANNEL_TOKEN_ISSUER = config.token_issuer
        conf.OAUTH_URL = AuthenticationConstants.OAUTH_URL
        conf.TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL = config.openid_metadata_url
        conf.TO_BOT_FROM_EMULATOR_OPENID_METADATA_URL = config.openid_metadata_url
        conf.CALLER_ID = CallerIdConstants.public_azure_channel
    return conf


def _metadata_url(config: AuthConfig) -> str:
    return (
        config.openid_metadata_url
        or AuthenticationConstants.TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL
    )


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=KEY_FETCH_TIMEOUT) as response:
        return json.load(response)


class _SigningKeys:
    """Keeps the SDK's cached signing keys fresh from a worker thread.

    The SDK fetches them with blocking ``requests`` calls inside the event loop; refreshing
    them here first means it never has to.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._lock = asyncio.Lock()

    def _stale(self, after: timedelta) -> bool:
        cached: Any = JwtTokenExtractor.get_open_id_metadata(self.url)
        return bool(cached.last_updated < datetime.now() - after)

    def _fetch(self) -> None:
        cached: Any = JwtTokenExtractor.get_open_id_metadata(self.url)
        metadata = _get_json(self.url)
        cached.keys = _get_json(metadata["jwks_uri"])["keys"]
        cached.last_updated = datetime.now()

    async def ensure_fresh(self) -> bool:
        """False when the keys are too old for the SDK and cannot be fetched."""
        if not self._stale(KEY_REFRESH_AFTER):
            return True
        async with self._lock:
            if not self._stale(KEY_REFRESH_AFTER):
                return True
            try:
                await asyncio.to_thread(self._fetch)
            except Exception as exc:  # network, HTTP or JSON problems
                log.warning("cannot fetch token signing keys from %s: %s", self.url, exc)
        return not self._stale(SDK_KEY_MAX_AGE)


# --- sending -------------------------------------------------------------------------------


def _message(content: Content) -> Activity:
    if isinstance(content, str):
        return Activity(type=ActivityTypes.message, text=content)
    attachment = Attachment(content_type=ADAPTIVE_CARD, content=dict(content))
    return Activity(type=ActivityTypes.message, attachments=[attachment])


def _delivery_error(exc: Exception) -> DeliveryError:
    if isinstance(exc, HttpOperationError):
        status = getattr(exc.response, "status_code", 0) or 0
        error = getattr(getattr(exc, "error", None), "error", None)
        code = getattr(error, "code", None) or ""
        return DeliveryError(
            f"the Bot Connector answered {status} {code}", status=status, code=code
        )
    return DeliveryError(f"the Bot Connector could not be reached: {exc}")


async def _delivering(call: Awaitable[Any]) -> Any:
    try:
        return await call
    except (HttpOperationError, ClientRequestError) as exc:
        raise _delivery_error(exc) from exc


def _sdk_reference(ref: ConversationReference) -> SdkReference:
    return SdkReference(
        channel_id=ref.channel_id,
        service_url=ref.service_url,
        conversation=ConversationAccount(
            id=ref.conversation_id,
            tenant_id=ref.tenant_id,
            conversation_type=ref.conversation_type,
        ),
        user=ChannelAccount(id=ref.user_id, aad_object_id=ref.user_aad_object_id)
        if ref.user_id or ref.user_aad_object_id
        else None,
        bot=ChannelAccount(id=ref.bot_id, name=ref.bot_name) if ref.bot_id else None,
    )


T = TypeVar("T")

RETRIED_STATUSES = frozenset({412, 429, 502, 503, 504})
"""Teams' answers worth another try: throttling (7 per second, 60 per 30 s per
conversation) and transient gateway errors."""


class HostedProactive:
    """:class:`bot.turn.Proactive` over the adapter's continue/create conversation.

    Sends retry throttled and transient failures with exponential backoff and jitter
    (``attempts`` in all); other refusals (blocked, not installed) raise at once.
    """

    def __init__(
        self,
        adapter: CloudAdapter,
        app_id: str,
        *,
        attempts: int = 4,
        base_delay: float = 0.5,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._adapter = adapter
        self._app_id = app_id
        self.attempts = attempts
        self.base_delay = base_delay
        self.sleep = sleep

    async def _retrying(self, send: Callable[[], Awaitable[T]]) -> T:
        for attempt in range(1, self.attempts + 1):
            try:
                return await send()
            except DeliveryError as exc:
                if exc.status not in RETRIED_STATUSES or attempt == self.attempts:
                    raise
                delay = self.base_delay * 2 ** (attempt - 1) * (1 + random.random())
                log.info("Teams answered %s, retrying in %.1f s", exc.status, delay)
                await self.sleep(delay)
        raise AssertionError("unreachable")

    async def _post_new(self, context: TurnContext, content: Content) -> str:
        """A new message in the context's conversation (not a reply to the SDK's synthetic
        continuation activity)."""
        activity = _message(content)
        reference = TurnContext.get_conversation_reference(context.activity)
        TurnContext.apply_conversation_reference(activity, reference)
        activity.reply_to_id = None
        connector = context.turn_state[self._adapter.BOT_CONNECTOR_CLIENT_KEY]
        response = await _delivering(
            connector.conversations.send_to_conversation(activity.conversation.id, activity)
        )
        return response.id if response and response.id else ""

    async def send_to_user(
        self, target: ConversationReference | UserAddress, content: Content
    ) -> Delivery:
        return await self._retrying(lambda: self._send_once(target, content))

    async def _send_once(
        self, target: ConversationReference | UserAddress, content: Content
    ) -> Delivery:
        if isinstance(target, UserAddress):
            return await self._create(target, content)
        sent: list[str] = []

        async def logic(context: TurnContext) -> None:
            sent.append(await self._post_new(context, content))

        await _delivering(
            self._adapter.continue_conversation(_sdk_reference(target), logic, self._app_id)
        )
        return Delivery(target, sent[0] if sent else "")

    async def _create(self, target: UserAddress, content: Content) -> Delivery:
        bot_id = target.bot_id or f"28:{self._app_id}"
        params = ConversationParameters(
            is_group=False,
            bot=ChannelAccount(id=bot_id),
            members=[ChannelAccount(id=target.aad_object_id, aad_object_id=target.aad_object_id)],
            tenant_id=target.tenant_id,
            channel_data={"tenant": {"id": target.tenant_id}},
        )
        delivered: list[Delivery] = []

        async def logic(context: TurnContext) -> None:
            activity_id = await self._post_new(context, content)
            reference = ConversationReference(
                conversation_id=context.activity.conversation.id,
                service_url=target.service_url,
                tenant_id=target.tenant_id,
                conversation_type="personal",
                user_aad_object_id=target.aad_object_id,
                bot_id=bot_id,
            )
            delivered.append(Delivery(reference, activity_id))

        await _delivering(
            self._adapter.create_conversation(
                self._app_id, logic, params, "msteams", target.service_url
            )
        )
        return delivered[0]

    async def update_for_user(
        self, reference: ConversationReference, activity_id: str, card: Card
    ) -> None:
        async def logic(context: TurnContext) -> None:
            activity = _message(card)
            activity.id = activity_id
            await _delivering(context.update_activity(activity))

        await _delivering(
            self._adapter.continue_conversation(_sdk_reference(reference), logic, self._app_id)
        )


class _TurnReply:
    """:class:`bot.turn.Reply` for one turn context."""

    def __init__(self, context: TurnContext, proactive: HostedProactive) -> None:
        self._context = context
        self._proactive = proactive

    async def send(self, content: Content) -> str:
        response = await _delivering(self._context.send_activity(_message(content)))
        return response.id if response and response.id else ""

    async def update(self, activity_id: str, card: Card) -> None:
        activity = _message(card)
        activity.id = activity_id
        await _delivering(self._context.update_activity(activity))

    async def send_to_user(
        self, target: ConversationReference | UserAddress, content: Content
    ) -> Delivery:
        return await self._proactive.send_to_user(target, content)

    async def update_for_user(
        self, reference: ConversationReference, activity_id: str, card: Card
    ) -> None:
        await self._proactive.update_for_user(reference, activity_id, card)


# --- the host ------------------------------------------------------------------------------


def _is_install(turn: Turn) -> bool:
    if turn.type == "installationUpdate":
        return (turn.action or "").startswith("add")
    if turn.type == "conversationUpdate":
        return bool(turn.recipient_id) and turn.recipient_id in turn.members_added
    return False


class BotHost:
    """Runs a :class:`bot.turn.Bot` behind Bot Framework authentication."""

    def __init__(
        self,
        bot: Bot,
        config: AuthConfig | None = None,
        *,
        texts: HostTexts | None = None,
        outgoing_token: str | None = None,
    ) -> None:
        """``outgoing_token``: send this bearer token on replies instead of asking Entra
        (tests and local connector stand-ins only)."""
        self.bot = bot
        self.config = config or AuthConfig.from_settings()
        self.texts = texts or HostTexts()
        sdk_conf = _sdk_configuration(self.config)
        factory: ServiceClientCredentialsFactory = ConfigurationServiceClientCredentialFactory(
            sdk_conf
        )
        if outgoing_token is not None:
            factory = _StaticTokenFactory(factory, outgoing_token)
        self._connectors = _ReusedConnectors()
        self.authentication = _Authentication(
            ConfigurationBotFrameworkAuthentication(sdk_conf, credentials_factory=factory),
            self._connectors,
        )
        self.adapter = CloudAdapter(self.authentication)
        self.proactive = HostedProactive(self.adapter, self.config.app_id)
        self._keys = None if self.config.dev_mode else _SigningKeys(_metadata_url(self.config))

    async def close(self) -> None:
        """Close the HTTP sessions of the reused connector clients."""
        await self._connectors.close()

    async def _authenticate(
        self, activity: Activity, auth_header: str | None
    ) -> AuthenticateRequestResult | HostResponse:
        if self.config.dev_mode:
            # Local development: the Agents Playground may send a token nobody can check.
            auth_header = None
        elif not auth_header:
            return _unauthorized("a Bot Framework token is required")
        if self._keys is not None and not await self._keys.ensure_fresh():
            return HostResponse(503, {"error": "unavailable", "message": "signing keys"})
        try:
            return await self.authentication.authenticate_request(activity, auth_header)
        except Exception as exc:  # PermissionError, jwt errors, malformed headers, ...
            log.info("rejected a request: %s: %s", type(exc).__name__, exc)
            return _unauthorized("invalid token")

    async def handle(self, body: Mapping[str, Any], auth_header: str | None) -> HostResponse:
        """Authenticate one activity and run it through the bot."""
        try:
            activity = Activity().deserialize(dict(body))
        except Exception as exc:  # msrest DeserializationError and friends
            return HostResponse(400, {"error": "bad activity", "message": str(exc)})
        if not activity.type:
            return HostResponse(400, {"error": "bad activity", "message": "no type"})
        auth = await self._authenticate(activity, auth_header)
        if isinstance(auth, HostResponse):
            return auth
        turn = Turn.from_activity(body)
        if not self.config.tenant_allowed(tenant_of(body)):
            return await self._refuse(turn, activity, auth)
        if turn.type == "message":
            return await self._run(activity, auth, turn, self._on_message)
        if turn.type == "invoke":
            return await self._invoke(activity, auth, turn)
        if _is_install(turn):
            return await self._run(activity, auth, turn, self._on_install)
        return HostResponse(200)

    async def _on_message(self, turn: Turn, io: _TurnReply) -> None:
        await self.bot.on_message(turn, io)

    async def _on_install(self, turn: Turn, io: _TurnReply) -> None:
        await self.bot.on_install(turn, io)

    async def _run(
        self,
        activity: Activity,
        auth: AuthenticateRequestResult,
        turn: Turn,
        handler: Callable[[Turn, _TurnReply], Awaitable[None]],
    ) -> HostResponse:
        async def logic(context: TurnContext) -> None:
            io = _TurnReply(context, self.proactive)
            try:
                await handler(turn, io)
            except Exception:
                reference = uuid.uuid4().hex[:12]
                log.exception("turn failed (reference %s)", reference)
                try:
                    await io.send(self.texts.failure.format(reference=reference))
                except Exception:
                    log.exception("could not apologise (reference %s)", reference)

        result = await self.adapter.process_activity(auth, activity, logic)
        if result is not None and result.body is not None:  # deliveryMode expectReplies
            return HostResponse(int(result.status), result.body)
        return HostResponse(200)

    async def _invoke(
        self, activity: Activity, auth: AuthenticateRequestResult, turn: Turn
    ) -> HostResponse:
        answer: list[InvokeResult] = []

        async def logic(context: TurnContext) -> None:
            try:
                answer.append(await self.bot.on_invoke(turn, _TurnReply(context, self.proactive)))
            except Exception:
                reference = uuid.uuid4().hex[:12]
                log.exception("invoke %s failed (reference %s)", turn.name, reference)
                answer.append(InvokeResult.message(self.texts.failure.format(reference=reference)))

        await self.adapter.process_activity(auth, activity, logic)
        result = answer[0] if answer else InvokeResult(200)
        return HostResponse(result.status, result.body)

    async def _refuse(
        self, turn: Turn, activity: Activity, auth: AuthenticateRequestResult
    ) -> HostResponse:
        log.info("refused an activity from tenant %r", turn.tenant_id)
        if turn.type == "invoke":
            result = InvokeResult.error(403, "Forbidden", self.texts.foreign_tenant)
            return HostResponse(result.status, result.body)
        if turn.type != "message":
            return HostResponse(200)

        async def say_no(turn: Turn, io: _TurnReply) -> None:
            await io.send(self.texts.foreign_tenant)

        return await self._run(activity, auth, turn, say_no)
