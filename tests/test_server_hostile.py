"""Hostile bodies get a 4xx, never a 5xx: nesting bombs and bodies whose encoding lies."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.auth import AuthConfig
from bot.hosting import BotHost
from bot.server import create_app
from tests import teams
from tests.connector import Connector
from tests.echo_bot import EchoBot


@pytest.fixture
async def client() -> AsyncIterator[TestClient[web.Request, web.Application]]:
    echo = EchoBot()
    client = TestClient(TestServer(create_app(echo, host=BotHost(echo, AuthConfig()))))
    await client.start_server()
    yield client
    await client.close()


def _nested_value(depth: int, connector: Connector) -> bytes:
    body = teams.message("hello", service_url=connector.service_url)
    text = json.dumps(body)
    return text[:-1].encode() + b', "value": ' + b'{"a": ' * depth + b"1" + b"}" * depth + b"}"


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 50_000,
        b'{"a": ' * 30_000,
        b"[" * 20_000 + b"]" * 20_000,
    ],
    ids=["open-arrays", "open-objects", "closed-arrays"],
)
async def test_nesting_bombs_are_400(
    client: TestClient[web.Request, web.Application], raw: bytes
) -> None:
    response = await client.post(
        "/api/messages", data=raw, headers={"Content-Type": "application/json"}
    )
    assert response.status == 400, await response.text()
    assert (await response.json())["error"] == "bad request"


async def test_a_value_nested_3000_deep_is_400(
    client: TestClient[web.Request, web.Application], connector: Connector
) -> None:
    response = await client.post(
        "/api/messages",
        data=_nested_value(3000, connector),
        headers={"Content-Type": "application/json"},
    )
    assert response.status == 400, await response.text()
    assert "nested" in (await response.json())["message"]


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br"])
async def test_a_body_that_is_not_what_its_encoding_says_is_400(
    client: TestClient[web.Request, web.Application], connector: Connector, encoding: str
) -> None:
    body = json.dumps(teams.message("hello", service_url=connector.service_url)).encode()
    response = await client.post(
        "/api/messages",
        data=body,
        headers={"Content-Type": "application/json", "Content-Encoding": encoding},
    )
    assert response.status == 400, await response.text()
