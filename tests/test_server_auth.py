"""Bot Framework authentication with an app id: tokens signed with local keys, served locally."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.auth import AuthConfig
from bot.hosting import BotHost
from bot.server import create_app
from cards import texts
from tests import teams
from tests.connector import Connector
from tests.echo_bot import EchoBot
from tests.jwt_keys import OpenIdServer, SigningKey, sign_token

pytestmark = pytest.mark.usefixtures("bot_sdk")

APP_ID = "00000000-0000-4000-8000-0000000a0001"
OTHER_APP_ID = "00000000-0000-4000-8000-0000000a0002"
OUTGOING = "outgoing-token-from-the-test"

Client = TestClient[web.Request, web.Application]


@pytest.fixture(scope="module")
def good_key() -> SigningKey:
    return SigningKey.generate("test-key-1")


@pytest.fixture(scope="module")
def openid(good_key: SigningKey) -> Iterator[OpenIdServer]:
    # One server per module: the SDK caches keys per metadata URL for a day.
    server = OpenIdServer([good_key]).start()
    yield server
    server.stop()


@pytest.fixture
def echo() -> EchoBot:
    return EchoBot()


@pytest.fixture
def config(openid: OpenIdServer) -> AuthConfig:
    return AuthConfig(
        app_id=APP_ID,
        app_password="generated-test-secret",
        app_tenant_id=teams.TENANT,
        openid_metadata_url=openid.metadata_url,
    )


@pytest.fixture
async def client(echo: EchoBot, config: AuthConfig) -> AsyncIterator[Client]:
    host = BotHost(echo, config, outgoing_token=OUTGOING)
    client = TestClient(TestServer(create_app(echo, host=host)))
    await client.start_server()
    yield client
    await client.close()


async def post(client: Client, body: dict[str, Any], token: str | None) -> tuple[int, Any]:
    headers = {} if token is None else {"Authorization": token}
    response = await client.post("/api/messages", json=body, headers=headers)
    text = await response.text()
    return response.status, (json.loads(text) if text else None)


def bearer(key: SigningKey, connector: Connector, **kw: Any) -> str:
    kw.setdefault("app_id", APP_ID)
    return "Bearer " + sign_token(key, service_url=connector.service_url, **kw)


async def test_valid_token_is_accepted_and_replies_are_authenticated(
    client: Client, connector: Connector, echo: EchoBot, good_key: SigningKey
) -> None:
    body = teams.message("hello", service_url=connector.service_url)
    status, _ = await post(client, body, bearer(good_key, connector))
    assert status == 200
    [reply] = connector.records
    assert reply.text == "echo: hello"
    assert reply.authorization == f"Bearer {OUTGOING}"
    assert echo.messages[0].text == "hello"


async def test_every_reply_carries_the_token_when_connectors_are_reused(
    client: Client, connector: Connector, good_key: SigningKey
) -> None:
    for text in ("one", "two", "three"):
        body = teams.message(text, service_url=connector.service_url)
        assert (await post(client, body, bearer(good_key, connector)))[0] == 200
    assert [r.text for r in connector.records] == ["echo: one", "echo: two", "echo: three"]
    assert {r.authorization for r in connector.records} == {f"Bearer {OUTGOING}"}


async def test_valid_token_invoke_gets_the_card(
    client: Client, connector: Connector, good_key: SigningKey
) -> None:
    body = teams.execute("details", {"id": 3}, service_url=connector.service_url)
    status, answer = await post(client, body, bearer(good_key, connector))
    assert status == 200
    assert answer["type"] == "application/vnd.microsoft.card.adaptive"


REJECTED: dict[str, Any] = {
    "missing": lambda key, other, c: None,
    "empty": lambda key, other, c: "",
    "not a jwt": lambda key, other, c: "Bearer not.a.jwt",
    "garbage": lambda key, other, c: "Bearer garbage",
    "wrong scheme": lambda key, other, c: bearer(key, c).replace("Bearer", "Basic"),
    "three parts": lambda key, other, c: bearer(key, c) + " extra",
    "expired": lambda key, other, c: bearer(key, c, expires_in=-3600),
    "wrong audience": lambda key, other, c: bearer(key, c, app_id=OTHER_APP_ID),
    "wrong issuer": lambda key, other, c: bearer(key, c, issuer="https://evil.example"),
    "wrongly signed": lambda key, other, c: bearer(other, c, kid=key.kid),
    "unknown key": lambda key, other, c: bearer(other, c),
    "wrong service url": lambda key, other, c: (
        "Bearer " + sign_token(key, app_id=APP_ID, service_url="https://elsewhere.example/")
    ),
}


@pytest.fixture(scope="module")
def other_key() -> SigningKey:
    return SigningKey.generate("attacker-key")


@pytest.mark.parametrize("case", list(REJECTED))
@pytest.mark.parametrize("kind", ["message", "invoke"])
async def test_bad_tokens_get_401(
    client: Client,
    connector: Connector,
    echo: EchoBot,
    good_key: SigningKey,
    other_key: SigningKey,
    case: str,
    kind: str,
) -> None:
    url = connector.service_url
    body = (
        teams.message("hello", service_url=url)
        if kind == "message"
        else teams.execute("details", {}, service_url=url)
    )
    status, answer = await post(client, body, REJECTED[case](good_key, other_key, connector))
    assert status == 401
    assert answer["error"] == "unauthorized"
    assert "Traceback" not in json.dumps(answer)
    assert echo.messages == [] and echo.invokes == []
    assert connector.records == []


async def test_alg_none_token_is_rejected(
    client: Client, connector: Connector, echo: EchoBot, good_key: SigningKey
) -> None:
    import jwt

    unsigned = jwt.encode(
        {"iss": "https://api.botframework.com", "aud": APP_ID, "serviceurl": connector.service_url},
        key="",
        algorithm="none",
        headers={"kid": good_key.kid},
    )
    body = teams.message("hello", service_url=connector.service_url)
    assert (await post(client, body, f"Bearer {unsigned}"))[0] == 401
    assert echo.messages == []


async def test_other_tenant_with_valid_token_gets_no_data(
    client: Client, connector: Connector, echo: EchoBot, good_key: SigningKey
) -> None:
    url = connector.service_url
    token = bearer(good_key, connector)
    message = teams.message("who knows x", service_url=url, tenant=teams.OTHER_TENANT)
    assert (await post(client, message, token))[0] == 200
    invoke = teams.execute("details", {}, service_url=url, tenant=teams.OTHER_TENANT)
    status, answer = await post(client, invoke, token)
    assert status == 403 and answer["statusCode"] == 403
    assert echo.messages == [] and echo.invokes == []
    assert [r.text for r in connector.records] == [texts.FOREIGN_TENANT]


async def test_settings_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
    openid: OpenIdServer,
    connector: Connector,
    echo: EchoBot,
    good_key: SigningKey,
) -> None:
    monkeypatch.setenv("MicrosoftAppId", APP_ID)
    monkeypatch.setenv("MicrosoftAppPassword", "generated-test-secret")
    monkeypatch.setenv("MicrosoftAppTenantId", teams.TENANT)
    monkeypatch.setenv("WHOKNOWS_BOT_OPENID_METADATA_URL", openid.metadata_url)
    client = TestClient(TestServer(create_app(echo)))
    await client.start_server()
    try:
        body = teams.execute("details", {}, service_url=connector.service_url)
        assert (await post(client, body, None))[0] == 401
        assert (await post(client, body, bearer(good_key, connector)))[0] == 200
    finally:
        await client.close()
    assert len(echo.invokes) == 1


def test_tenant_policy() -> None:
    assert AuthConfig().tenant_allowed(None)  # dev mode without tenants: everything
    prod = AuthConfig(app_id=APP_ID, allowed_tenants=("A", " b "), app_tenant_id="C")
    assert prod.tenants == {"a", "b", "c"}
    assert prod.tenant_allowed("B") and prod.tenant_allowed("c")
    assert not prod.tenant_allowed("d") and not prod.tenant_allowed(None)
    assert not AuthConfig(app_id=APP_ID).tenant_allowed("a")
    assert AuthConfig(app_id=APP_ID, app_password="x").problems() != []
