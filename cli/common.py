"""Pieces every CLI command shares: the --db option and store opening with clear errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click
from sqlalchemy import Engine

from signals import db
from signals.config import SettingError

F = TypeVar("F", bound=Callable[..., Any])


def db_option(func: F) -> F:
    """--db URL, defaulting to WHOKNOWS_DATABASE_URL, then sqlite:///whoknows.db."""
    return click.option(
        "--db",
        "db_url",
        default=None,
        metavar="URL",
        help="Store URL (default: $WHOKNOWS_DATABASE_URL or sqlite:///whoknows.db).",
    )(func)


def open_store_or_exit(db_url: str | None) -> Engine:
    """An up-to-date store, or exit 1 with a message that says what to do.

    The engine's connections are closed when the command ends.
    """
    try:
        engine = db.open_store(db_url)
    except (db.StoreError, SettingError) as exc:
        raise click.ClickException(str(exc)) from exc
    dispose_at_exit(engine)
    return engine


def dispose_at_exit(engine: Engine) -> None:
    """Close the engine's pool when the running click command finishes."""
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.call_on_close(engine.dispose)


class UsageFailure(click.ClickException):
    """Exit code 2, like click's own usage errors (e.g. a missing path)."""

    exit_code = 2
