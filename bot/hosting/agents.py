"""The host on the Microsoft 365 Agents SDK: the only module that imports it.

It adapts the SDK's aiohttp ``CloudAdapter`` (``microsoft-agents-hosting-aiohttp``), its JWT
validator (``microsoft-agents-hosting-core``) and msal connection
(``microsoft-agents-authentication-msal``) to :class:`bot.hosting.base.HostBase`, reading
the same ``MicrosoftApp*`` settings as the botbuilder host. Workarounds for the SDK's
defects (see docs/admin-install.md, "SDK defects worked around"):

- The validator picks the signing-key URL from the token's unverified issuer and fetches
  it in a thread holding a lock, with ``PyJWKClient``'s 30 s timeout; an unknown key id
  refetches every time. Keys come from :mod:`bot.hosting.openid` instead.
- Issuers are not checked unless ``VALIDATE_ISSUER`` is set (it is), a service URL that
  differs from the token's ``serviceurl`` claim is only logged, and key endorsements are
  not checked: both are checked here, as botbuilder does.
- Connector clients use aiohttp's 300 s default timeout and ask msal for a token without
  one: each client gets ``connector_timeout``, and the token fetch (in msal's thread) too.
- Every turn asks for a user-token client (an extra Entra token): OAuth sign-in is not used,
  so a stub answers.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from contextvars import ContextVar
from importlib import metadata
from typing import Any, TypeVar

import aiohttp
from jwt import PyJWK
from microsoft_agents.activity import (
    Activity,
    ActivityTypes,
    Attachment,
    ChannelAccount,
    ChannelId,
    ConversationAccount,
    ConversationParameters,
)
from microsoft_agents.activity import ConversationReference as SdkReference
from microsoft_agents.authentication.msal import MsalAuth
from microsoft_agents.hosting.aiohttp import CloudAdapter
from microsoft_agents.hosting.core import (
    ChannelServiceClientFactoryBase,
    TurnContext,
)
from microsoft_agents.hosting.core.authorization import (
    AgentAuthConfiguration,
    AuthTypes,
    ClaimsIdentity,
    JwtTokenValidator,
)
from microsoft_agents.hosting.core.connector import ConnectorClientBase
from microsoft_agents.hosting.core.connector.teams import TeamsConnectorClient
from pydantic import ValidationError

from bot.auth import EMULATOR_ISSUERS, AuthConfig
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

BOT_CONNECTOR_SCOPE = "https://api.botframework.com/.default"
MULTI_TENANT_AUTHORITY = "https://login.microsoftonline.com/botframework.com"
T = TypeVar("T")


# --- settings -------------------------------------------------------------------------------


def connection_settings(config: AuthConfig) -> AgentAuthConfiguration:
    """The SDK's service connection from the ``MicrosoftApp*`` settings.

    MicrosoftAppType ``MultiTenant`` and ``SingleTenant`` use the client secret (against the
    botframework.com or the app's own tenant); ``UserAssignedMSI`` uses the managed identity
    whose client id is MicrosoftAppId.
    """
    app_type = config.app_type.strip().lower()
    if app_type == "userassignedmsi":
        auth_type = AuthTypes.user_managed_identity
    else:
        auth_type = AuthTypes.client_secret
    tenant = config.app_tenant_id or None
    authority = (
        f"https://login.microsoftonline.com/{tenant}"
        if app_type == "singletenant" and tenant
        else MULTI_TENANT_AUTHORITY
    )
    issuers = [config.token_issuer]
    if config.emulator_tokens:
        issuers += sorted(EMULATOR_ISSUERS)
    return AgentAuthConfiguration(
        auth_type=auth_type,
        client_id=config.app_id or None,
        tenant_id=tenant,
        client_secret=config.app_password or None,
        authority=authority,
        anonymous_allowed=config.dev_mode,
        issuers=issuers,
        validate_issuer=True,
    )


# --- authentication ---------------------------------------------------------------------------


class _OneKey:
    """Stands in for the validator's JWKS client: the key already found, no fetching."""

    def __init__(self, jwk: Mapping[str, Any]) -> None:
        self._key = PyJWK(dict(jwk), algorithm="RS256")

    async def get_signing_key(self, jwks_uri: str, header: dict[str, Any]) -> PyJWK:
        return self._key


# --- sending ----------------------------------------------------------------------------------


def _message(content: Content) -> Activity:
    if isinstance(content, str):
        return Activity(type=ActivityTypes.message, text=content)
    attachment = Attachment(content_type=ADAPTIVE_CARD, content=dict(content))
    return Activity(type=ActivityTypes.message, attachments=[attachment])


def _delivery_error(status: int, body: str) -> DeliveryError:
    code = ""
    try:
        error = json.loads(body).get("error") or {}
        code = str(error.get("code") or "") if isinstance(error, dict) else ""
    except (ValueError, AttributeError):
        pass
    return DeliveryError(f"the Bot Connector answered {status} {code}", status=status, code=code)


async def _connector_call(call: Callable[[], Awaitable[T]], timeout: float) -> T:
    """One Bot Connector call within ``timeout``; its failures as :class:`DeliveryError`."""
    try:
        async with asyncio.timeout(timeout):
            return await call()
    except TimeoutError as exc:
        raise DeliveryError(
            f"the Bot Connector did not answer within {timeout:g} s", status=504
        ) from exc
    except aiohttp.ClientResponseError as exc:
        raise _delivery_error(exc.status, exc.message) from exc
    except aiohttp.ClientError as exc:
        raise DeliveryError(f"the Bot Connector could not be reached: {exc}") from exc


_created: ContextVar[list[aiohttp.ClientSession] | None] = ContextVar("_created", default=None)


@asynccontextmanager
async def _closing_sessions() -> AsyncIterator[None]:
    """Close the connector sessions made inside, also when the SDK does not (it leaks the
    client of a failed ``create_conversation``)."""
    token = _created.set([])
    try:
        yield
    finally:
        for session in _created.get() or []:
            if not session.closed:
                await session.close()
        _created.reset(token)


class _NoUserTokens:
    """The user-token client the adapter asks for on every turn (OAuth is not used)."""

    async def close(self) -> None:
        return None


Token = Callable[[], Awaitable[str]]


class _ClientFactory(ChannelServiceClientFactoryBase):
    """Connector clients with a timeout, authenticated with ``token()``."""

    def __init__(self, token: Token, timeout: float) -> None:
        self._token = token
        self._timeout = timeout

    async def _add_token(
        self, request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
    ) -> aiohttp.ClientResponse:
        """Asks for the token when a call is made, not for every turn (invokes make none),
        and reads Teams' error code from a refusal (the SDK drops it for some calls)."""
        token = await self._token()
        if token:
            request.headers["Authorization"] = f"Bearer {token}"
        response = await handler(request)
        if response.status >= 400:
            body = await response.text(errors="replace")
            response.release()
            raise _delivery_error(response.status, body)
        return response

    async def create_connector_client(
        self,
        context: Any,
        claims_identity: Any,
        service_url: str,
        audience: str,
        scopes: list[str] | None = None,
        use_anonymous: bool = False,
    ) -> ConnectorClientBase:
        endpoint = service_url if service_url.endswith("/") else service_url + "/"
        session = aiohttp.ClientSession(
            base_url=endpoint,
            timeout=aiohttp.ClientTimeout(total=self._timeout),
            middlewares=(self._add_token,),
        )
        created = _created.get()
        if created is not None:
            created.append(session)
        return TeamsConnectorClient(endpoint=endpoint, token="", session=session)

    async def create_user_token_client(
        self, context: Any, claims_identity: Any, use_anonymous: bool = False
    ) -> Any:
        return _NoUserTokens()


def _token_source(config: AuthConfig, outgoing_token: str | None, timeout: float) -> Token:
    if config.dev_mode:
        token = ""
    elif outgoing_token is not None:
        token = outgoing_token
    else:
        msal = MsalAuth(connection_settings(config))

        async def entra() -> str:
            try:
                async with asyncio.timeout(timeout):
                    return str(
                        await msal.get_access_token(BOT_CONNECTOR_SCOPE, [BOT_CONNECTOR_SCOPE])
                    )
            except TimeoutError as exc:
                raise DeliveryError(
                    f"no token for the Bot Connector within {timeout:g} s", status=504
                ) from exc
            except Exception as exc:  # msal, requests or configuration errors
                raise DeliveryError(f"no token for the Bot Connector: {exc}") from exc

        return entra

    async def fixed() -> str:
        return token

    return fixed


def _client(context: TurnContext) -> ConnectorClientBase:
    services: Any = context.services
    client = services.get(ConnectorClientBase)
    if not isinstance(client, ConnectorClientBase):
        raise DeliveryError("no Bot Connector client in this turn")
    return client


class _SendOnce:
    """One attempt of each proactive operation, through the adapter."""

    def __init__(self, adapter: CloudAdapter, app_id: str, timeout: float) -> None:
        self._adapter = adapter
        self._app_id = app_id
        self._timeout = timeout

    async def _post_new(self, context: TurnContext, content: Content) -> str:
        """A new message in the context's conversation (not a reply)."""
        incoming = context.activity
        activity = _message(content)
        activity.channel_id = incoming.channel_id
        activity.service_url = incoming.service_url
        activity.conversation = incoming.conversation
        if incoming.recipient is not None:
            activity.from_property = incoming.recipient
        if incoming.from_property is not None:
            activity.recipient = incoming.from_property
        conversation_id = incoming.conversation.id
        response = await _connector_call(
            lambda: _client(context).conversations.send_to_conversation(conversation_id, activity),
            self._timeout,
        )
        return response.id if response and response.id else ""

    async def _continue(
        self, reference: ConversationReference, logic: Callable[[TurnContext], Awaitable[None]]
    ) -> None:
        sdk_reference = SdkReference(
            channel_id=ChannelId(reference.channel_id),
            service_url=reference.service_url,
            conversation=ConversationAccount(
                id=reference.conversation_id,
                tenant_id=reference.tenant_id,
                conversation_type=reference.conversation_type,
            ),
            user=ChannelAccount(
                id=reference.user_id or reference.user_aad_object_id or "",
                aad_object_id=reference.user_aad_object_id,
            )
            if reference.user_id or reference.user_aad_object_id
            else None,
            agent=ChannelAccount(id=reference.bot_id or f"28:{self._app_id}"),
        )
        await _connector_call(
            lambda: self._adapter.continue_conversation(
                self._app_id, sdk_reference.get_continuation_activity(), logic
            ),
            self._timeout,
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
        params = ConversationParameters(  # type: ignore[call-arg]  # field "agent", alias "bot"
            is_group=False,
            agent=ChannelAccount(id=bot_id),
            members=[ChannelAccount(id=target.aad_object_id, aad_object_id=target.aad_object_id)],
            tenant_id=target.tenant_id,
            channel_data={"tenant": {"id": target.tenant_id}},
        )
        delivered: list[Delivery] = []

        async def logic(context: TurnContext) -> None:
            context.activity.from_property = ChannelAccount(id=target.aad_object_id)
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

        async with _closing_sessions():
            await _connector_call(
                lambda: self._adapter.create_conversation(
                    self._app_id,
                    "msteams",
                    target.service_url,
                    BOT_CONNECTOR_SCOPE,
                    params,
                    logic,
                ),
                self._timeout,
            )
        return delivered[0]

    async def update_once(
        self, reference: ConversationReference, activity_id: str, card: Card
    ) -> None:
        async def logic(context: TurnContext) -> None:
            activity = _message(card)
            activity.id = activity_id
            await _connector_call(lambda: context.update_activity(activity), self._timeout)

        await self._continue(reference, logic)


class _TurnReply(ProactiveReply):
    """:class:`bot.turn.Reply` for one turn context."""

    def __init__(self, context: TurnContext, timeout: float, proactive: RetryingProactive) -> None:
        self._context = context
        self._timeout = timeout
        super().__init__(proactive)

    async def send(self, content: Content) -> str:
        response = await _connector_call(
            lambda: self._context.send_activity(_message(content)), self._timeout
        )
        return response.id if response and response.id else ""

    async def update(self, activity_id: str, card: Card) -> None:
        activity = _message(card)
        activity.id = activity_id
        await _connector_call(lambda: self._context.update_activity(activity), self._timeout)


# --- the host ---------------------------------------------------------------------------------


class AgentsHost(HostBase[Activity, ClaimsIdentity]):
    """Runs a :class:`bot.turn.Bot` on the Agents SDK's CloudAdapter."""

    sdk = "agents"

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
        self.sdk_version = metadata.version("microsoft-agents-hosting-core")
        self.connection = connection_settings(self.config)
        timeout = self.limits.connector_timeout
        factory = _ClientFactory(_token_source(self.config, outgoing_token, timeout), timeout)
        self.adapter = CloudAdapter(channel_service_client_factory=factory)
        self.adapter.on_turn_error = None  # the SDK's default prints and sends the exception
        self.proactive = RetryingProactive(
            _SendOnce(self.adapter, self.config.app_id, timeout), self.limits
        )

    async def close(self) -> None:
        """Connector sessions are per turn and closed by the adapter."""

    def parse(self, body: Mapping[str, Any]) -> Activity:
        try:
            return Activity.model_validate(dict(body))
        except (ValidationError, ValueError, TypeError) as exc:
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise BadActivity(message) from exc

    async def verify(
        self, activity: Activity, auth_header: str | None, key: VerifiedKey | None
    ) -> ClaimsIdentity:
        if auth_header is None or key is None:
            return ClaimsIdentity()  # anonymous: development mode only
        validator = JwtTokenValidator(self.connection)
        validator._jwk_client_manager = _OneKey(key.jwk)  # type: ignore[assignment]
        identity = await validator.validate_token(auth_header.split(" ", 1)[1])
        endorsements = key.jwk.get("endorsements")
        channel = str(activity.channel_id or "")
        if isinstance(endorsements, list) and channel not in endorsements:
            raise PermissionError(f"the signing key is not endorsed for {channel!r}")
        claimed = identity.get_claim_value("serviceurl")
        if claimed is not None and claimed != activity.service_url:
            raise PermissionError("the token's service URL is not the activity's")
        return identity

    async def process(
        self, activity: Activity, identity: ClaimsIdentity, logic: TurnLogic
    ) -> HostResponse | None:
        timeout = self.limits.connector_timeout

        async def callback(context: TurnContext) -> None:
            await logic(_TurnReply(context, timeout, self.proactive))

        result = await self.adapter.process_activity(identity, activity, callback)
        if result is not None and activity.delivery_mode == "expectReplies":
            return HostResponse(int(result.status or 200), result.body)
        return None
