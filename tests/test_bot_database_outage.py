"""The bot while its PostgreSQL goes away and comes back (through a proxy that is cut, as a
restart or failover would; the shared server itself keeps running)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from bot.auth import AuthConfig
from bot.conversation import WhoKnowsBot
from bot.hosting import BotHost
from bot.server import create_app, engine_readiness
from signals import db
from signals.directory import DirectoryPerson, upsert_people
from signals.ingest import Writer, write_all
from tests import teams
from tests.connector import Connector
from tests.tcp_proxy import TcpProxy, proxying
from tests.test_bot_scenarios import PEOPLE, Client, _records, _user


@pytest.fixture
def proxy(pg_url: str) -> Iterator[TcpProxy]:
    url = make_url(pg_url)
    with proxying(url.host or "127.0.0.1", url.port or 5432) as running:
        yield running


@pytest.fixture
def store(pg_url: str, proxy: TcpProxy) -> Iterator[Engine]:
    setup = db.open_store(pg_url)
    upsert_people(
        setup,
        [
            DirectoryPerson([email], name, entra_id=_user(n)["aadObjectId"])
            for n, (name, email) in PEOPLE.items()
        ],
    )
    write_all(Writer(setup), _records())
    setup.dispose()
    url = make_url(pg_url).set(port=proxy.port).render_as_string(hide_password=False)
    engine = db.open_store(url)
    yield engine
    engine.dispose()


@pytest.fixture
async def client(store: Engine) -> AsyncIterator[Client]:
    bot = WhoKnowsBot(store, dev_mode=True)
    app = create_app(bot, host=BotHost(bot, AuthConfig()), readiness=engine_readiness(store))
    client = TestClient(TestServer(app))
    await client.start_server()
    yield client
    await client.close()


async def _ask(client: Client, connector: Connector) -> tuple[int, Any]:
    before = len(connector.records)
    body = teams.message(
        "who knows Yvonne McKay", service_url=connector.service_url, sender=_user(1)
    )
    response = await client.post("/api/messages", json=body)
    new = connector.records[before:]
    reply = (new[0].cards[0] if new[0].cards else new[0].text) if new else None
    return response.status, reply


async def test_outage_polite_not_ready_then_serving_at_the_first_request(
    client: Client, connector: Connector, proxy: TcpProxy
) -> None:
    status, reply = await _ask(client, connector)
    assert status == 200 and isinstance(reply, dict)  # the answer card
    assert (await client.get("/readyz")).status == 200

    proxy.cut()
    status, reply = await _ask(client, connector)
    assert status == 200 and isinstance(reply, str), reply
    assert reply.startswith("Sorry") and "Traceback" not in reply
    ready = await client.get("/readyz")
    assert ready.status == 503 and (await ready.json())["database"] == "unreachable"

    proxy.restore()
    # Serving again needs no waiting: the first probe and the first question succeed.
    assert (await client.get("/readyz")).status == 200
    status, reply = await _ask(client, connector)
    assert status == 200 and isinstance(reply, dict)
