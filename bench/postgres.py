"""The benchmarks' PostgreSQL databases: created, copied and dropped on one server.

The server is named by ``WHOKNOWS_BENCH_POSTGRES``, a URL of any database on it that
the role may connect to (it needs the right to create databases). Each benchmark
works in databases of its own there.
"""

from __future__ import annotations

import os

from sqlalchemy import Engine, create_engine, make_url, text

from signals import db

ADMIN_URL = db.normalise_url(
    os.environ.get("WHOKNOWS_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
)


def admin() -> Engine:
    """An engine for statements that run outside a transaction (CREATE DATABASE)."""
    return create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")


def url_of(name: str) -> str:
    """The URL of database ``name`` on the benchmark server."""
    return make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def exists(name: str) -> bool:
    engine = admin()
    try:
        with engine.connect() as conn:
            found = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
            return found.scalar() is not None
    finally:
        engine.dispose()


def create(name: str, *, template: str | None = None) -> str:
    """A new, empty database (or a copy of ``template``) in place of any of that name;
    returns its URL."""
    engine = admin()
    try:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            copy = f' TEMPLATE "{template}"' if template else ""
            conn.execute(text(f'CREATE DATABASE "{name}"{copy}'))
    finally:
        engine.dispose()
    return url_of(name)


def drop(name: str) -> None:
    engine = admin()
    try:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        engine.dispose()
