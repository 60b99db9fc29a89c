"""Shared fixtures: a fresh store on SQLite and on PostgreSQL for every test that asks.

PostgreSQL tests run for real: each gets its own database cloned from a migrated
template. Set WHOKNOWS_TEST_POSTGRES_URL to point elsewhere (default: the local
server, user postgres); they fail, not skip, when the server is unreachable,
unless WHOKNOWS_TEST_SKIP_POSTGRES=1.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from signals import db
from signals.store import create_store
from tests.connector import Connector

PG_URL = os.environ.get(
    "WHOKNOWS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
SKIP_PG = os.environ.get("WHOKNOWS_TEST_SKIP_POSTGRES") == "1"
TEMPLATE = f"whoknows_test_template_{os.getpid()}"


@pytest.fixture(params=["botbuilder", "agents"])
def bot_sdk(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each host in turn: tests using it (``pytestmark = usefixtures("bot_sdk")``) run on
    both SDKs through ``WHOKNOWS_BOT_SDK``."""
    sdk: str = request.param
    monkeypatch.setenv("WHOKNOWS_BOT_SDK", sdk)
    return sdk


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never see the developer's own configuration."""
    for key in list(os.environ):
        if key.startswith("WHOKNOWS_") and not key.startswith("WHOKNOWS_TEST_"):
            monkeypatch.delenv(key)
    for key in (
        "MicrosoftAppId",
        "MicrosoftAppPassword",
        "MicrosoftAppType",
        "MicrosoftAppTenantId",
    ):
        monkeypatch.delenv(key, raising=False)


def _admin_engine() -> Engine:
    return create_engine(db.normalise_url(PG_URL), isolation_level="AUTOCOMMIT")


def _pg_database_url(name: str) -> str:
    return (
        make_url(db.normalise_url(PG_URL)).set(database=name).render_as_string(hide_password=False)
    )


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    if SKIP_PG:
        pytest.skip("WHOKNOWS_TEST_SKIP_POSTGRES=1")
    admin = _admin_engine()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{TEMPLATE}"'))
        conn.execute(text(f'CREATE DATABASE "{TEMPLATE}"'))
    engine = create_store(_pg_database_url(TEMPLATE))
    engine.dispose()
    yield TEMPLATE
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{TEMPLATE}"'))
    admin.dispose()


@pytest.fixture
def pg_url(pg_template: str) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for one test."""
    name = f"whoknows_t_{uuid.uuid4().hex[:12]}"
    admin = _admin_engine()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"'))
    yield _pg_database_url(name)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    create_store(url).dispose()
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest) -> str:
    """A fresh, migrated store on each backend."""
    name = "sqlite_url" if request.param == "sqlite" else "pg_url"
    return str(request.getfixturevalue(name))


@pytest.fixture
def engine(store_url: str) -> Iterator[Engine]:
    eng = db.open_store(store_url)
    yield eng
    eng.dispose()


@pytest.fixture
async def connector() -> AsyncIterator[Connector]:
    """A local Bot Connector that records what the bot sends."""
    async with Connector() as running:
        yield running
