"""Outbound calls of both hosts under faults: OpenID endpoints and a Bot Connector that hang.

A token whose issuer is an emulator issuer must not make the server call out (the emulator
path is off by default), and when it is on, a hanging OpenID endpoint costs that request
``openid_timeout`` and nothing else. A Bot Connector that never answers costs a turn at
most ``connector_timeout``; proactive retries stop at ``connector_budget``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.auth import EMULATOR_ISSUERS, AuthConfig
from bot.hosting import HostLimits, create_host, sdk_name
from bot.hosting.base import RetryingProactive
from bot.server import create_app
from bot.turn import Card, Content, ConversationReference, Delivery, DeliveryError, UserAddress
from signals.config import SettingError
from tests import teams
from tests.connector import Connector
from tests.echo_bot import EchoBot
from tests.jwt_keys import OpenIdServer, SigningKey, sign_token

pytestmark = pytest.mark.usefixtures("bot_sdk")

APP_ID = "00000000-0000-4000-8000-0000000a0001"
EMULATOR_ISSUER = sorted(EMULATOR_ISSUERS)[0]
SHORT = HostLimits(openid_timeout=0.3, connector_timeout=0.3, connector_budget=1.0)
PROMPT = 5.0
"""Seconds a request may take here at most; the SDKs' own limits are 30 s to 300 s."""

Client = TestClient[web.Request, web.Application]


class Hanging:
    """An HTTP server that accepts every request and never answers it."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.release = asyncio.Event()
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def _hang(self, request: web.Request) -> web.Response:
        self.paths.append(request.path)
        await self.release.wait()
        return web.json_response({})

    async def start(self) -> Hanging:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._hang)
        self.runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}/"
        return self

    async def stop(self) -> None:
        self.release.set()
        if self.runner is not None:
            await self.runner.cleanup()


@pytest.fixture
async def hanging() -> AsyncIterator[Hanging]:
    server = await Hanging().start()
    yield server
    await server.stop()


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return SigningKey.generate("limits-key")


@pytest.fixture(scope="module")
def openid(key: SigningKey) -> Iterator[OpenIdServer]:
    server = OpenIdServer([key]).start()
    yield server
    server.stop()


def _config(openid: OpenIdServer, hanging: Hanging, *, emulator: bool) -> AuthConfig:
    return AuthConfig(
        app_id=APP_ID,
        app_password="generated-test-secret",
        app_tenant_id=teams.TENANT,
        openid_metadata_url=openid.metadata_url,
        emulator_tokens=emulator,
        emulator_openid_metadata_url=hanging.url + "common/v2.0/.well-known/openid-configuration",
    )


async def _client(config: AuthConfig, limits: HostLimits = SHORT) -> Client:
    echo = EchoBot()
    host = create_host(echo, config, limits=limits, outgoing_token="token-from-the-test")
    client = TestClient(TestServer(create_app(echo, host=host)))
    await client.start_server()
    return client


async def _post(client: Client, body: dict[str, Any], token: str) -> int:
    async with asyncio.timeout(PROMPT):
        response = await client.post(
            "/api/messages", json=body, headers={"Authorization": f"Bearer {token}"}
        )
        await response.read()
        return response.status


def _emulator_token(key: SigningKey, connector: Connector) -> str:
    return sign_token(
        key,
        app_id=APP_ID,
        service_url=connector.service_url,
        issuer=EMULATOR_ISSUER,
        ver="1.0",
        appid=APP_ID,
    )


async def test_emulator_tokens_are_refused_without_calling_out_by_default(
    openid: OpenIdServer, hanging: Hanging, connector: Connector, key: SigningKey
) -> None:
    client = await _client(_config(openid, hanging, emulator=False))
    try:
        body = teams.message("hello", service_url=connector.service_url)
        for _ in range(3):
            assert await _post(client, body, _emulator_token(key, connector)) == 401
    finally:
        await client.close()
    assert hanging.paths == []
    assert connector.records == []


async def test_emulator_tokens_are_accepted_when_enabled(
    openid: OpenIdServer, connector: Connector, key: SigningKey
) -> None:
    config = AuthConfig(
        app_id=APP_ID,
        app_password="generated-test-secret",
        app_tenant_id=teams.TENANT,
        openid_metadata_url=openid.metadata_url,
        emulator_tokens=True,
        emulator_openid_metadata_url=openid.metadata_url,
    )
    client = await _client(config)
    try:
        body = teams.message("from the emulator", service_url=connector.service_url)
        assert await _post(client, body, _emulator_token(key, connector)) == 200
    finally:
        await client.close()
    assert [r.text for r in connector.records] == ["echo: from the emulator"]


async def test_a_hanging_emulator_endpoint_costs_one_request_a_prompt_401(
    openid: OpenIdServer, hanging: Hanging, connector: Connector, key: SigningKey
) -> None:
    client = await _client(_config(openid, hanging, emulator=True))
    url = connector.service_url
    try:
        emulated = asyncio.create_task(
            _post(
                client, teams.message("emulated", service_url=url), _emulator_token(key, connector)
            )
        )
        good = sign_token(key, app_id=APP_ID, service_url=url)
        # While the emulator's keys hang, genuine requests are served.
        assert await _post(client, teams.message("genuine", service_url=url), good) == 200
        assert await emulated == 401
        # A failed fetch is not repeated for every request.
        again = teams.message("again", service_url=url)
        assert await _post(client, again, _emulator_token(key, connector)) == 401
    finally:
        await client.close()
    assert hanging.paths == ["/common/v2.0/.well-known/openid-configuration"]
    assert [r.text for r in connector.records] == ["echo: genuine"]


async def test_unknown_key_ids_do_not_refetch_the_keys_every_time(
    openid: OpenIdServer, hanging: Hanging, connector: Connector, key: SigningKey
) -> None:
    client = await _client(_config(openid, hanging, emulator=False))
    url = connector.service_url
    stranger = SigningKey.generate("stranger")
    seen = len(openid.requests_seen)
    try:
        for n in range(4):
            token = sign_token(stranger, app_id=APP_ID, service_url=url)
            assert await _post(client, teams.message(f"x{n}", service_url=url), token) == 401
    finally:
        await client.close()
    assert len(openid.requests_seen) - seen == 2  # metadata and keys, once


async def test_a_hanging_bot_connector_costs_a_turn_at_most_the_timeout(
    hanging: Hanging, bot_sdk: str
) -> None:
    echo = EchoBot()
    host = create_host(echo, AuthConfig(), limits=SHORT)
    client = TestClient(TestServer(create_app(echo, host=host)))
    await client.start_server()
    try:
        async with asyncio.timeout(PROMPT):
            response = await client.post(
                "/api/messages", json=teams.message("hello", service_url=hanging.url)
            )
        assert response.status == 200
        assert host.sdk == bot_sdk
    finally:
        await client.close()
    assert len(hanging.paths) == 2  # the reply, then the apology: each gave up
    assert echo.messages[0].text == "hello"


async def test_proactive_sends_to_a_hanging_connector_fail_as_504(hanging: Hanging) -> None:
    host = create_host(EchoBot(), AuthConfig(), limits=SHORT)
    target = ConversationReference("a:chat-1", hanging.url, tenant_id=teams.TENANT)
    try:
        async with asyncio.timeout(PROMPT):
            with pytest.raises(DeliveryError) as raised:
                await host.proactive.send_to_user(target, "hello")
    finally:
        await host.close()
    assert raised.value.status == 504


class _Throttled:
    """Every attempt is answered 429."""

    def __init__(self) -> None:
        self.attempts = 0

    async def send_once(
        self, target: ConversationReference | UserAddress, content: Content
    ) -> Delivery:
        self.attempts += 1
        raise DeliveryError("throttled", status=429, code="Throttled")

    async def update_once(
        self, reference: ConversationReference, activity_id: str, card: Card
    ) -> None:
        self.attempts += 1
        raise DeliveryError("throttled", status=429, code="Throttled")


async def test_retries_stop_when_the_budget_is_spent() -> None:
    sdk = _Throttled()
    waits: list[float] = []

    async def sleep(delay: float) -> None:
        waits.append(delay)

    limits = HostLimits(connector_timeout=1.0, connector_budget=0.2)
    proactive = RetryingProactive(sdk, limits, attempts=4, base_delay=0.5, sleep=sleep)
    target = ConversationReference("a:chat-1", "http://127.0.0.1:9/")
    with pytest.raises(DeliveryError, match="no time left to retry") as raised:
        await proactive.send_to_user(target, "hello")
    assert raised.value.status == 429
    assert sdk.attempts == 1 and waits == []

    roomy = RetryingProactive(sdk, HostLimits(connector_budget=60.0), sleep=sleep)
    with pytest.raises(DeliveryError):
        await roomy.update_for_user(target, "activity-1", {"type": "AdaptiveCard"})
    assert sdk.attempts == 1 + 4 and len(waits) == 3


def test_the_sdk_setting(monkeypatch: pytest.MonkeyPatch, bot_sdk: str) -> None:
    assert sdk_name() == bot_sdk
    assert create_host(EchoBot(), AuthConfig()).sdk == bot_sdk
    monkeypatch.setenv("WHOKNOWS_BOT_SDK", " Agents ")
    assert sdk_name() == "agents"
    monkeypatch.setenv("WHOKNOWS_BOT_SDK", "teams")
    with pytest.raises(SettingError, match="WHOKNOWS_BOT_SDK"):
        sdk_name()


def test_no_module_outside_hosting_imports_an_sdk() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    offenders = []
    for package in ("bot", "cards", "scoring", "signals"):
        for path in (root / package).rglob("*.py"):
            if path.parent.name == "hosting":
                continue
            text = path.read_text(encoding="utf-8")
            for sdk in ("botbuilder", "botframework", "microsoft_agents"):
                if f"import {sdk}" in text or f"from {sdk}" in text:
                    offenders.append(f"{path.relative_to(root)}: {sdk}")
    assert offenders == []


def test_agents_connection_settings_follow_the_microsoft_app_settings() -> None:
    from bot.hosting.agents import connection_settings

    multi = connection_settings(
        AuthConfig(app_id=APP_ID, app_password="s", app_tenant_id=teams.TENANT)
    )
    assert (multi.CLIENT_ID, multi.CLIENT_SECRET, multi.TENANT_ID) == (APP_ID, "s", teams.TENANT)
    assert multi.AUTH_TYPE.value == "ClientSecret"
    assert multi.AUTHORITY == "https://login.microsoftonline.com/botframework.com"
    assert multi.VALIDATE_ISSUER and multi.ISSUERS == ["https://api.botframework.com"]
    assert not multi.ANONYMOUS_ALLOWED
    single = connection_settings(
        AuthConfig(app_id=APP_ID, app_password="s", app_type="SingleTenant", app_tenant_id="t1")
    )
    assert single.AUTHORITY == "https://login.microsoftonline.com/t1"
    msi = connection_settings(AuthConfig(app_id=APP_ID, app_type="UserAssignedMSI"))
    assert msi.AUTH_TYPE.value == "UserManagedIdentity" and msi.CLIENT_ID == APP_ID
    emulator = connection_settings(AuthConfig(app_id=APP_ID, emulator_tokens=True))
    assert set(emulator.ISSUERS) == {"https://api.botframework.com", *EMULATOR_ISSUERS}
    assert connection_settings(AuthConfig()).ANONYMOUS_ALLOWED
