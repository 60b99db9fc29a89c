"""The host on the Bot Framework SDK (botbuilder 4.17.1): the only module that imports it.

It adapts botbuilder's ``CloudAdapter`` and ``ConfigurationBotFrameworkAuthentication`` to
:class:`bot.hosting.base.HostBase`. Workarounds for the SDK's defects (see
docs/admin-install.md, "SDK defects worked around"):

- ``CloudAdapter.process`` answers 500 for every invoke: the activity is authenticated and
  run here, and the invoke answer written by the base class.
- Signing keys are fetched by the SDK with blocking ``requests`` calls without a timeout,
  on the event loop, from a URL the token's unverified issuer picks (the emulator path):
  the keys are put into the SDK's cache from :mod:`bot.hosting.openid` before each
  validation, and tokens of issuers not configured never reach the SDK.
- The connector's Entra token is fetched by msal on the event loop without a timeout: it
  is fetched (or read from msal's cache) in a worker thread, with a timeout, before each
  Bot Connector call; msrest's 100 s request timeout becomes ``connector_timeout``.
- A new ConnectorClient per turn (costly): clients are reused per service URL.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from importlib import metadata
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
from msal import ConfidentialClientApplication
from msrest.exceptions import ClientRequestError, HttpOperationError

from bot.auth import AuthConfig
from bot.hosting.base import (
    BadActivity,
    HostBase,
    HostLimits,
    HostResponse,
    ProactiveReply,
    RetryingProactive,
    TurnLogic,
    VerifiedKey,
)
from bot.turn import (
    ADAPTIVE_CARD,
    Bot,
    Card,
    Content,
    ConversationReference,
    Delivery,
    DeliveryError,
    HostTexts,
    UserAddress,
)

log = logging.getLogger("whoknows.bot")

MAX_CONNECTORS = 64
"""Connector clients kept for reuse (one per serviceUrl; Teams uses a handful)."""

T = TypeVar("T")


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


class _TimedCredentialFactory(ServiceClientCredentialsFactory):  # type: ignore[misc]
    """The configured factory, whose msal client gives up after ``timeout`` seconds.

    It remembers the credentials it made so that the host can fetch their token in a
    worker thread before each Bot Connector call (msrest asks for it on the event loop).
    """

    def __init__(self, inner: ServiceClientCredentialsFactory, timeout: float) -> None:
        self._inner = inner
        self._timeout = timeout
        self.made: list[MicrosoftAppCredentials] = []

    async def is_valid_app_id(self, app_id: str) -> bool:
        return bool(await self._inner.is_valid_app_id(app_id))

    async def is_authentication_disabled(self) -> bool:
        return bool(await self._inner.is_authentication_disabled())

    async def create_credentials(
        self, app_id: str, oauth_scope: str, login_endpoint: str, validate_authority: bool
    ) -> Any:
        credentials = await self._inner.create_credentials(
            app_id, oauth_scope, login_endpoint, validate_authority
        )
        if isinstance(credentials, MicrosoftAppCredentials) and credentials.microsoft_app_id:
            self.made.append(credentials)
            del self.made[:-MAX_CONNECTORS]
        return credentials

    def _token(self, credentials: MicrosoftAppCredentials) -> None:
        if not credentials.app and not isinstance(credentials, _StaticTokenCredentials):
            # Made here rather than by the SDK: msal looks up its authority when it is
            # created, and needs a timeout.
            credentials.app = ConfidentialClientApplication(
                client_id=credentials.microsoft_app_id,
                client_credential=credentials.microsoft_app_password,
                authority=credentials.oauth_endpoint,
                timeout=self._timeout,
            )
        credentials.get_access_token()

    async def warm(self, timeout: float) -> None:
        """Get (or read from msal's cache) every credential's token off the event loop."""
        for credentials in list(self.made):
            try:
                async with asyncio.timeout(timeout):
                    await asyncio.to_thread(self._token, credentials)
            except TimeoutError as exc:
                raise DeliveryError(
                    f"no token for the Bot Connector within {timeout:g} s", status=504
                ) from exc
            except Exception as exc:
                raise DeliveryError(f"no token for the Bot Connector: {exc}") from exc


class _ReusedConnectors:
    """One ConnectorClient per (app id, serviceUrl, audience) instead of two new clients a turn.

    botbuilder builds a ConnectorClient and a token client for every turn; each costs
    milliseconds of CPU (msrest's retry table) and a fresh HTTP session. The connector's
    session and credentials (which refresh their own token) are safe to share.
    """

    def __init__(self, timeout: float) -> None:
        self.clients: dict[tuple[str, str, str], Any] = {}
        self.timeout = timeout

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
            client.config.connection.timeout = self._pool.timeout  # msrest's default: 100 s
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
        conf.TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL = config.metadata_url
        conf.TO_BOT_FROM_EMULATOR_OPENID_METADATA_URL = config.emulator_openid_metadata_url
        conf.CALLER_ID = CallerIdConstants.public_azure_channel
    return conf


def _give_keys_to_the_sdk(key: VerifiedKey) -> None:
    """Fill the SDK's key cache for this URL, so that it never fetches (blocking) itself."""
    cached: Any = JwtTokenExtractor.get_open_id_metadata(key.metadata_url)
    cached.keys = key.keys.keys
    cached.last_updated = datetime.now()


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


class _Connector:
    """Every Bot Connector call: its token fetched off the event loop first, then the call,
    each within ``timeout``; SDK errors become :class:`DeliveryError`."""

    def __init__(self, credentials: _TimedCredentialFactory | None, timeout: float) -> None:
        self._credentials = credentials
        self.timeout = timeout

    async def call(self, make_call: Callable[[], Awaitable[T]]) -> T:
        if self._credentials is not None:
            await self._credentials.warm(self.timeout)
        try:
            async with asyncio.timeout(self.timeout):
                return await make_call()
        except TimeoutError as exc:
            raise DeliveryError(
                f"the Bot Connector did not answer within {self.timeout:g} s", status=504
            ) from exc
        except (HttpOperationError, ClientRequestError) as exc:
            raise _delivery_error(exc) from exc


class _SendOnce:
    """One attempt of each proactive operation, through the adapter."""

    def __init__(self, adapter: CloudAdapter, app_id: str, connector: _Connector) -> None:
        self._adapter = adapter
        self._app_id = app_id
        self._connector = connector

    async def _post_new(self, context: TurnContext, content: Content) -> str:
        """A new message in the context's conversation (not a reply to the SDK's synthetic
        continuation activity)."""
        activity = _message(content)
        reference = TurnContext.get_conversation_reference(context.activity)
        TurnContext.apply_conversation_reference(activity, reference)
        activity.reply_to_id = None
        client = context.turn_state[self._adapter.BOT_CONNECTOR_CLIENT_KEY]
        response = await self._connector.call(
            lambda: client.conversations.send_to_conversation(activity.conversation.id, activity)
        )
        return response.id if response and response.id else ""

    async def _continue(self, reference: ConversationReference, logic: Any) -> None:
        await self._connector.call(
            lambda: self._adapter.continue_conversation(
                _sdk_reference(reference), logic, self._app_id
            )
        )

    async def send_once(
        self, target: ConversationReference | UserAddress, content: Content
    ) -> Delivery:
        if isinstance(target, UserAddress):
            return await self._create(target, content)
        sent: list[str] = []

        async def logic(context: TurnContext) -> None:
            sent.append(await self._post_new(context, content))

        await self._continue(target, logic)
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

        await self._connector.call(
            lambda: self._adapter.create_conversation(
                self._app_id, logic, params, "msteams", target.service_url
            )
        )
        return delivered[0]

    async def update_once(
        self, reference: ConversationReference, activity_id: str, card: Card
    ) -> None:
        async def logic(context: TurnContext) -> None:
            activity = _message(card)
            activity.id = activity_id
            await self._connector.call(lambda: context.update_activity(activity))

        await self._continue(reference, logic)


class _TurnReply(ProactiveReply):
    """:class:`bot.turn.Reply` for one turn context."""

    def __init__(
        self, context: TurnContext, connector: _Connector, proactive: RetryingProactive
    ) -> None:
        self._context = context
        self._connector = connector
        super().__init__(proactive)

    async def send(self, content: Content) -> str:
        response = await self._connector.call(
            lambda: self._context.send_activity(_message(content))
        )
        return response.id if response and response.id else ""

    async def update(self, activity_id: str, card: Card) -> None:
        activity = _message(card)
        activity.id = activity_id
        await self._connector.call(lambda: self._context.update_activity(activity))


# --- the host ------------------------------------------------------------------------------


class BotbuilderHost(HostBase[Activity, AuthenticateRequestResult]):
    """Runs a :class:`bot.turn.Bot` on botbuilder's CloudAdapter."""

    sdk = "botbuilder"

    def __init__(
        self,
        bot: Bot,
        config: AuthConfig | None = None,
        *,
        texts: HostTexts | None = None,
        limits: HostLimits | None = None,
        outgoing_token: str | None = None,
    ) -> None:
        """``outgoing_token``: send this bearer token on replies instead of asking Entra
        (tests and local connector stand-ins only)."""
        super().__init__(bot, config, texts, limits)
        self.sdk_version = metadata.version("botbuilder-core")
        sdk_conf = _sdk_configuration(self.config)
        factory: ServiceClientCredentialsFactory = ConfigurationServiceClientCredentialFactory(
            sdk_conf
        )
        if outgoing_token is not None:
            factory = _StaticTokenFactory(factory, outgoing_token)
        credentials = _TimedCredentialFactory(factory, self.limits.connector_timeout)
        self._connectors = _ReusedConnectors(self.limits.connector_timeout)
        self.authentication = _Authentication(
            ConfigurationBotFrameworkAuthentication(sdk_conf, credentials_factory=credentials),
            self._connectors,
        )
        self.adapter = CloudAdapter(self.authentication)
        self.connector = _Connector(
            None if self.config.dev_mode else credentials, self.limits.connector_timeout
        )
        self.proactive = RetryingProactive(
            _SendOnce(self.adapter, self.config.app_id, self.connector), self.limits
        )

    async def close(self) -> None:
        """Close the HTTP sessions of the reused connector clients."""
        await self._connectors.close()

    def parse(self, body: Mapping[str, Any]) -> Activity:
        try:
            return Activity().deserialize(dict(body))
        except Exception as exc:  # msrest DeserializationError and friends
            raise BadActivity(str(exc)) from exc

    async def verify(
        self, activity: Activity, auth_header: str | None, key: VerifiedKey | None
    ) -> AuthenticateRequestResult:
        if key is not None:
            _give_keys_to_the_sdk(key)
        return await self.authentication.authenticate_request(activity, auth_header)

    async def process(
        self, activity: Activity, identity: AuthenticateRequestResult, logic: TurnLogic
    ) -> HostResponse | None:
        async def callback(context: TurnContext) -> None:
            await logic(_TurnReply(context, self.connector, self.proactive))

        result = await self.adapter.process_activity(identity, activity, callback)
        if result is not None and result.body is not None:  # deliveryMode expectReplies
            return HostResponse(int(result.status), result.body)
        return None
