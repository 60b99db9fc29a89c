"""Opening the store: engines, sessions and the schema version check."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session, sessionmaker

from signals import settings

MIGRATIONS = Path(__file__).parent / "migrations"


class StoreError(RuntimeError):
    """The store cannot be used as it is (missing, outdated, unreachable)."""


def dialect_insert(bind: Connection | Session, target: Any) -> Any:
    """INSERT with ON CONFLICT support (upserts) for the store's backend."""
    engine_bind = bind.get_bind() if isinstance(bind, Session) else bind
    name = engine_bind.dialect.name
    return (postgresql.insert if name == "postgresql" else sqlite.insert)(target)


def normalise_url(url: str) -> str:
    """Accept plain ``postgresql://`` URLs and use the psycopg 3 driver for them."""
    parsed = make_url(url)
    if parsed.drivername in {"postgresql", "postgres"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def database_url(explicit: str | None = None) -> str:
    return normalise_url(explicit or settings.DATABASE_URL.get())


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def make_engine(url: str | None = None) -> Engine:
    """An engine for the store; SQLite gets WAL and foreign keys. Its errors never show
    a statement's parameters (addresses, names): they end up in logs."""
    resolved = database_url(url)
    if resolved.startswith("sqlite"):
        engine = create_engine(
            resolved, connect_args={"check_same_thread": False}, hide_parameters=True
        )
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(
            resolved, pool_pre_ping=True, pool_size=10, max_overflow=10, hide_parameters=True
        )
        event.listen(engine, "connect", _postgres_utc)
    return engine


def _postgres_utc(dbapi_connection: Any, _record: Any) -> None:
    """Sessions in UTC: times come back already in the zone the store works in, so
    reading them needs no conversion (other zones are still converted correctly)."""
    with dbapi_connection.cursor() as cursor:
        cursor.execute("SET TIME ZONE 'UTC'")
    dbapi_connection.commit()


def error_text(exc: BaseException) -> str:
    """An exception as text fit to store or log: a database error by its kind and
    SQLSTATE only, since the driver's message can quote the values of a row."""
    if isinstance(exc, StatementError):
        orig = exc.orig
        code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
        if code is None and isinstance(orig, sqlite3.Error):
            code = getattr(orig, "sqlite_errorname", None)
        return f"{type(exc).__name__}: {type(orig).__name__}" + (f" ({code})" if code else "")
    return f"{type(exc).__name__}: {exc}"


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def head_revision(engine: Engine) -> str | None:
    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest migration (``whoknows db upgrade``)."""
    command.upgrade(alembic_config(engine), "head")


def check_schema(engine: Engine) -> None:
    """Refuse to run on a store whose schema is missing or out of date."""
    try:
        current = current_revision(engine)
    except Exception as exc:  # unreachable server, bad credentials, ...
        raise StoreError(f"cannot open the store at {engine.url!r}: {exc}") from exc
    head = head_revision(engine)
    if current != head:
        where = engine.url.render_as_string(hide_password=True)
        if current is None:
            raise StoreError(
                f"the store at {where} has no schema yet: run `whoknows db upgrade` "
                "(or `whoknows init --demo` for a demo organisation)"
            )
        raise StoreError(
            f"the store at {where} is at schema {current}, this version needs {head}: "
            "run `whoknows db upgrade`"
        )


def open_store(url: str | None = None, *, check: bool = True) -> Engine:
    """An engine for an up-to-date store; raises StoreError otherwise."""
    engine = make_engine(url)
    if check:
        try:
            check_schema(engine)
        except StoreError:
            engine.dispose()
            raise
    return engine


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """A session whose work is committed together, or not at all."""
    with Session(engine, expire_on_commit=False) as session, session.begin():
        yield session
