"""The HTTP surface in local development mode: activities, errors, health, tenants, serve."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from click.testing import CliRunner
from sqlalchemy import create_engine

from bot.auth import AuthConfig
from bot.hosting import BotHost, HostResponse
from bot.server import HOST_KEY, create_app, engine_readiness
from bot.turn import ConversationReference, DeliveryError, Turn, UserAddress
from cards import texts
from cli import serve
from tests import teams
from tests.connector import Connector
from tests.echo_bot import EchoBot

pytestmark = pytest.mark.usefixtures("bot_sdk")


@pytest.fixture
def echo() -> EchoBot:
    return EchoBot()


async def _client(app: web.Application) -> TestClient[web.Request, web.Application]:
    client = TestClient(TestServer(app))
    await client.start_server()
    return client


@pytest.fixture
async def client(echo: EchoBot) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    client = await _client(create_app(echo, host=BotHost(echo, AuthConfig())))
    yield client
    await client.close()


async def post(client: TestClient[web.Request, web.Application], body: Any) -> tuple[int, Any]:
    response = await client.post("/api/messages", json=body)
    text = await response.text()
    return response.status, (json.loads(text) if text else None)


# --- activities ---------------------------------------------------------------------------


async def test_message_is_answered_through_the_connector(
    client: TestClient[web.Request, web.Application], connector: Connector, echo: EchoBot
) -> None:
    body = teams.message("Hello there", service_url=connector.service_url)
    status, _ = await post(client, body)
    assert status == 200
    [reply] = connector.records
    assert reply.kind == "reply"
    assert reply.conversation_id == body["conversation"]["id"]
    assert reply.activity_id == body["id"]
    assert reply.text == "echo: Hello there"
    assert reply.authorization is None  # dev mode: replies carry no token
    [turn] = echo.messages
    assert turn.from_aad_object_id == teams.user()["aadObjectId"]
    assert turn.tenant_id == teams.TENANT
    assert turn.conversation_type == "personal"


async def test_dev_mode_ignores_tokens_it_cannot_check(
    client: TestClient[web.Request, web.Application], connector: Connector
) -> None:
    body = teams.message("hi", service_url=connector.service_url)
    response = await client.post("/api/messages", json=body, headers={"Authorization": "Bearer x"})
    assert response.status == 200
    assert [r.text for r in connector.records] == ["echo: hi"]


async def test_group_chat_mention_is_stripped(
    client: TestClient[web.Request, web.Application], connector: Connector, echo: EchoBot
) -> None:
    body = teams.mention_message("who knows  Contoso", service_url=connector.service_url)
    assert (await post(client, body))[0] == 200
    assert echo.messages[0].command_text == "who knows Contoso"
    assert echo.messages[0].conversation_type == "groupChat"
    assert connector.records[0].text == "echo: who knows Contoso"


async def test_card_reply_and_update_in_place(
    client: TestClient[web.Request, web.Application], connector: Connector
) -> None:
    assert (await post(client, teams.message("update", service_url=connector.service_url)))[
        0
    ] == 200
    sent, updated = connector.records
    assert sent.cards[0]["body"][0]["text"] == "working…"
    assert updated.kind == "update"
    assert updated.activity_id == "activity-1"
    assert updated.cards[0]["body"][0]["text"] == "done"


async def test_action_execute_answers_with_the_next_card(
    client: TestClient[web.Request, web.Application], connector: Connector, echo: EchoBot
) -> None:
    body = teams.execute("choose", {"lead": 7, "note": "hi"}, service_url=connector.service_url)
    status, answer = await post(client, body)
    assert status == 200
    assert answer["statusCode"] == 200
    assert answer["type"] == "application/vnd.microsoft.card.adaptive"
    assert answer["value"]["body"][0]["text"] == "clicked choose with {'lead': 7, 'note': 'hi'}"
    assert echo.invokes[0].verb == "choose"
    assert connector.records == []


@pytest.mark.parametrize(
    ("make", "installs"),
    [
        (lambda url: teams.installation("add", service_url=url), 1),
        (lambda url: teams.members_added(teams.BOT_ID, service_url=url), 1),
        (lambda url: teams.installation("remove", service_url=url), 0),
        (lambda url: teams.members_added("29:someone-else", service_url=url), 0),
    ],
)
async def test_install_events(
    client: TestClient[web.Request, web.Application],
    connector: Connector,
    echo: EchoBot,
    make: Any,
    installs: int,
) -> None:
    assert (await post(client, make(connector.service_url)))[0] == 200
    assert len(echo.installs) == installs
    assert [r.text for r in connector.records] == ["welcome"] * installs


@pytest.mark.parametrize("kind", ["typing", "messageReaction", "event", "somethingNew"])
async def test_unknown_activity_types_are_ignored(
    client: TestClient[web.Request, web.Application],
    connector: Connector,
    echo: EchoBot,
    kind: str,
) -> None:
    status, body = await post(client, teams.activity(kind, service_url=connector.service_url))
    assert (status, body) == (200, None)
    assert connector.records == [] and echo.messages == [] and echo.invokes == []


async def test_expect_replies_delivery_mode_returns_the_replies(
    client: TestClient[web.Request, web.Application], connector: Connector
) -> None:
    body = teams.message("hi", service_url=connector.service_url, deliveryMode="expectReplies")
    status, answer = await post(client, body)
    assert status == 200
    assert [a["text"] for a in answer["activities"]] == ["echo: hi"]
    assert connector.records == []


# --- errors -------------------------------------------------------------------------------


async def test_malformed_requests_get_4xx_json(
    client: TestClient[web.Request, web.Application], connector: Connector
) -> None:
    bad_json = await client.post(
        "/api/messages", data=b'{"type": "message",', headers={"Content-Type": "application/json"}
    )
    assert bad_json.status == 400
    assert (await bad_json.json())["message"] == "malformed JSON"

    wrong_type = await client.post(
        "/api/messages", data=b"type=message", headers={"Content-Type": "text/plain"}
    )
    assert wrong_type.status == 415

    assert (await post(client, [1, 2]))[0] == 400
    assert (await post(client, {"text": "no type"}))[0] == 400
    assert (await post(client, {"type": "message", "from": "not an account"}))[0] == 400
    assert connector.records == []


async def test_oversized_body_gets_413(echo: EchoBot, connector: Connector) -> None:
    client = await _client(create_app(echo, host=BotHost(echo, AuthConfig()), max_body_bytes=2048))
    try:
        body = teams.message("x" * 4000, service_url=connector.service_url)
        status, answer = await post(client, body)
        assert status == 413
        assert answer["error"] == "request entity too large"
        small = teams.message("x" * 100, service_url=connector.service_url)
        assert (await post(client, small))[0] == 200
    finally:
        await client.close()
    assert echo.messages[0].text == "x" * 100


async def test_body_limit_is_a_setting(
    echo: EchoBot, connector: Connector, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WHOKNOWS_MAX_REQUEST_BYTES", "1000")
    client = await _client(create_app(echo, host=BotHost(echo, AuthConfig())))
    try:
        body = teams.message("x" * 1000, service_url=connector.service_url)
        assert (await post(client, body))[0] == 413
    finally:
        await client.close()


async def test_handler_failure_apologises_with_a_reference(
    client: TestClient[web.Request, web.Application],
    connector: Connector,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, logger="whoknows.bot"):
        status, body = await post(client, teams.message("boom", service_url=connector.service_url))
    assert (status, body) == (200, None)
    [apology] = connector.records
    assert apology.text is not None and "went wrong" in apology.text
    reference = apology.text.split("reference ")[1].split(")")[0]
    assert any(reference in r.getMessage() and r.exc_info for r in caplog.records)


async def test_invoke_failure_is_a_polite_200(
    client: TestClient[web.Request, web.Application], connector: Connector
) -> None:
    status, body = await post(client, teams.execute("boom", {}, service_url=connector.service_url))
    assert status == 200
    assert body["type"] == "application/vnd.microsoft.activity.message"
    assert "went wrong" in body["value"]
    assert "Traceback" not in json.dumps(body)


async def test_unexpected_error_is_json_500_without_traceback(
    client: TestClient[web.Request, web.Application],
    connector: Connector,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def explode(*_args: object) -> HostResponse:
        raise ZeroDivisionError("hidden detail")

    client.app[HOST_KEY].handle = explode  # type: ignore[method-assign,assignment]
    with caplog.at_level(logging.ERROR, logger="whoknows.bot"):
        response = await client.post(
            "/api/messages", json=teams.message("hi", service_url=connector.service_url)
        )
    text = await response.text()
    assert response.status == 500
    assert "hidden detail" not in text and "Traceback" not in text
    reference = json.loads(text)["reference"]
    assert any(reference in r.getMessage() for r in caplog.records)


async def test_unknown_routes_and_methods_are_json(
    client: TestClient[web.Request, web.Application],
) -> None:
    missing = await client.get("/nowhere")
    assert missing.status == 404 and (await missing.json())["error"] == "not found"
    wrong = await client.get("/api/messages")
    assert wrong.status == 405 and (await wrong.json())["error"] == "method not allowed"


# --- health -------------------------------------------------------------------------------


async def test_healthz_names_the_sdk(
    client: TestClient[web.Request, web.Application], bot_sdk: str
) -> None:
    response = await client.get("/healthz")
    assert response.status == 200
    answer = await response.json()
    package = "botbuilder-core" if bot_sdk == "botbuilder" else "microsoft-agents-hosting-core"
    assert answer == {"status": "ok", "sdk": bot_sdk, "sdk_version": metadata.version(package)}


async def _ready_status(echo: EchoBot, check: Any) -> int:
    client = await _client(create_app(echo, host=BotHost(echo, AuthConfig()), readiness=check))
    try:
        return (await client.get("/readyz")).status
    finally:
        await client.close()


async def test_readyz_follows_the_database_check(echo: EchoBot, tmp_path: Path) -> None:
    async def ok() -> bool:
        return True

    async def down() -> bool:
        raise ConnectionError("database is down")

    async def false() -> bool:
        return False

    assert await _ready_status(echo, ok) == 200
    assert await _ready_status(echo, down) == 503
    assert await _ready_status(echo, false) == 503

    good = create_engine(f"sqlite:///{tmp_path / 'store.db'}")
    bad = create_engine(f"sqlite:///{tmp_path / 'missing' / 'store.db'}")
    try:
        assert await _ready_status(echo, engine_readiness(good)) == 200
        assert await _ready_status(echo, engine_readiness(bad)) == 503
    finally:
        good.dispose()
        bad.dispose()


# --- tenants ------------------------------------------------------------------------------


@pytest.fixture
async def tenant_client(echo: EchoBot) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    config = AuthConfig(allowed_tenants=(teams.TENANT.upper(),))
    client = await _client(create_app(echo, host=BotHost(echo, config)))
    yield client
    await client.close()


async def test_configured_tenant_is_served(
    tenant_client: TestClient[web.Request, web.Application], connector: Connector, echo: EchoBot
) -> None:
    assert (await post(tenant_client, teams.message("hi", service_url=connector.service_url)))[
        0
    ] == 200
    assert [r.text for r in connector.records] == ["echo: hi"]


async def test_other_tenants_get_no_data(
    tenant_client: TestClient[web.Request, web.Application], connector: Connector, echo: EchoBot
) -> None:
    url = connector.service_url
    other = {"tenant": teams.OTHER_TENANT}
    assert (await post(tenant_client, teams.message("who knows x", service_url=url, **other)))[
        0
    ] == 200
    status, body = await post(tenant_client, teams.execute("choose", {}, service_url=url, **other))
    assert status == 403
    assert body["statusCode"] == 403 and body["type"] == "application/vnd.microsoft.error"
    assert (await post(tenant_client, teams.installation(service_url=url, **other)))[0] == 200

    missing = teams.message("hi", service_url=url)
    del missing["channelData"]["tenant"], missing["conversation"]["tenantId"]
    assert (await post(tenant_client, missing))[0] == 200

    assert echo.messages == [] and echo.invokes == [] and echo.installs == []
    assert [r.text for r in connector.records] == [texts.FOREIGN_TENANT] * 2


# --- proactive ----------------------------------------------------------------------------


class ProactiveBot(EchoBot):
    """Sends to another user on request, the way introductions will."""

    target: ConversationReference | UserAddress | None = None
    outcome: list[Any]

    def __init__(self) -> None:
        super().__init__()
        self.outcome = []

    async def on_message(self, turn: Turn, io: Any) -> None:
        assert self.target is not None
        try:
            delivery = await io.send_to_user(self.target, {"type": "AdaptiveCard", "body": []})
        except DeliveryError as exc:
            self.outcome.append(exc)
            await io.send(f"could not reach them ({exc.status} {exc.code})")
            return
        await io.update_for_user(delivery.reference, delivery.activity_id, {"type": "AdaptiveCard"})
        self.outcome.append(delivery)


async def test_proactive_to_a_stored_conversation(connector: Connector) -> None:
    bot = ProactiveBot()
    bot.target = ConversationReference.from_dict(
        ConversationReference(
            conversation_id="a:colleague-chat",
            service_url=connector.service_url,
            tenant_id=teams.TENANT,
            user_id="29:colleague",
            bot_id=teams.BOT_ID,
        ).to_dict()
    )
    client = await _client(create_app(bot, host=BotHost(bot, AuthConfig())))
    try:
        assert (await post(client, teams.message("go", service_url=connector.service_url)))[
            0
        ] == 200
    finally:
        await client.close()
    [delivery] = bot.outcome
    sent, updated = connector.records
    assert (sent.kind, sent.conversation_id) == ("send", "a:colleague-chat")
    assert sent.cards and sent.body["from"]["id"] == teams.BOT_ID
    assert (updated.kind, updated.activity_id) == ("update", delivery.activity_id)


async def test_proactive_creates_a_conversation_by_object_id(connector: Connector) -> None:
    bot = ProactiveBot()
    colleague = teams.user(9)["aadObjectId"]
    bot.target = UserAddress(colleague, teams.TENANT, connector.service_url, bot_id=teams.BOT_ID)
    client = await _client(create_app(bot, host=BotHost(bot, AuthConfig())))
    try:
        assert (await post(client, teams.message("go", service_url=connector.service_url)))[
            0
        ] == 200
    finally:
        await client.close()
    [delivery] = bot.outcome
    created, sent, updated = connector.records
    assert created.kind == "create"
    assert created.body["members"][0]["id"] == colleague
    assert created.body["channelData"]["tenant"]["id"] == teams.TENANT
    assert created.body["bot"]["id"] == teams.BOT_ID
    assert (sent.kind, sent.conversation_id) == ("send", created.conversation_id)
    assert delivery.reference.conversation_id == created.conversation_id
    assert delivery.reference.user_aad_object_id == colleague
    assert updated.conversation_id == created.conversation_id


async def test_proactive_refusal_is_a_delivery_error(connector: Connector) -> None:
    bot = ProactiveBot()
    colleague = teams.user(9)["aadObjectId"]
    connector.refuse(colleague, 403, "MessageWritesBlocked")
    bot.target = UserAddress(colleague, teams.TENANT, connector.service_url)
    client = await _client(create_app(bot, host=BotHost(bot, AuthConfig())))
    try:
        assert (await post(client, teams.message("go", service_url=connector.service_url)))[
            0
        ] == 200
    finally:
        await client.close()
    [error] = bot.outcome
    assert isinstance(error, DeliveryError)
    assert (error.status, error.code) == (403, "MessageWritesBlocked")
    assert [r.text for r in connector.records] == [
        "could not reach them (403 MessageWritesBlocked)"
    ]


# --- whoknows serve -----------------------------------------------------------------------


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch, sqlite_url: str) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []

    def fake_run_app(app: web.Application, **kwargs: Any) -> None:
        calls.append({"app": app, **kwargs})

    monkeypatch.setattr(serve, "run_app", fake_run_app)
    monkeypatch.setenv("WHOKNOWS_DATABASE_URL", sqlite_url)
    return calls


def _serve(*args: str) -> Any:
    command = serve.make_serve_command(lambda _engine: EchoBot())
    return CliRunner().invoke(command, list(args))


def test_serve_in_dev_mode_binds_loopback(served: list[dict[str, Any]]) -> None:
    result = _serve()
    assert result.exit_code == 0, result.output
    assert "local development mode" in result.output
    assert served[0]["host"] == "127.0.0.1" and served[0]["port"] == 3978


def test_serve_refuses_other_hosts_without_app_id(served: list[dict[str, Any]]) -> None:
    result = _serve("--host", "0.0.0.0", "--port", "8080")
    assert result.exit_code == 2
    assert "refusing to listen on 0.0.0.0" in result.output
    assert served == []


def test_serve_with_app_id_needs_a_tenant(
    served: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MicrosoftAppId", "00000000-0000-4000-8000-0000000a0001")
    monkeypatch.setenv("MicrosoftAppPassword", "generated-test-secret")
    result = _serve("--host", "0.0.0.0")
    assert result.exit_code == 2 and "MicrosoftAppTenantId" in result.output
    monkeypatch.setenv("MicrosoftAppTenantId", teams.TENANT)
    result = _serve("--host", "0.0.0.0")
    assert result.exit_code == 0, result.output
    assert "development" not in result.output
    assert served[0]["host"] == "0.0.0.0"


def test_serve_hosts_on_the_chosen_sdk(served: list[dict[str, Any]], bot_sdk: str) -> None:
    result = _serve()
    assert result.exit_code == 0, result.output
    assert served[0]["app"][HOST_KEY].sdk == bot_sdk


def test_serve_refuses_an_unknown_sdk(
    served: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WHOKNOWS_BOT_SDK", "teams-ai")
    result = _serve()
    assert result.exit_code == 2
    assert "WHOKNOWS_BOT_SDK: expected one of botbuilder, agents, not 'teams-ai'" in result.output
    assert served == []
