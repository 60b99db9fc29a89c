"""Store checks: the database answers, its schema is current, PostgreSQL where several
processes share it, and the sync is fresh with no failing mailboxes."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, case, func, or_, select, text

from cli.doctor.result import Check, Options, failure, ok, warning
from signals import db
from signals import settings as sigs
from signals import sync_settings as ss
from signals.models import Person, SyncState

FAMILY = "store"
STALE_AFTER_INTERVALS = 3
MIN_STALE = timedelta(hours=1)
LISTED = 5


def _where(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def answers(engine: Engine) -> Check:
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # any driver error means the same: it does not answer
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return failure(
            FAMILY,
            "database",
            f"{_where(engine)} does not answer: {first}",
            f"Check {sigs.DATABASE_URL.env} (host, database, user, password) and that the server "
            "accepts connections from this host.",
        )
    return ok(FAMILY, "database", f"{_where(engine)} answers")


def schema(engine: Engine) -> Check:
    current = db.current_revision(engine)
    head = db.head_revision(engine)
    if current is None:
        return failure(
            FAMILY, "schema", "the store has no schema yet", "Run `whoknows db upgrade`."
        )
    if current != head:
        return failure(
            FAMILY,
            "schema",
            f"the store is at migration {current}, this version of whoknows needs {head}",
            "Run `whoknows db upgrade` (once, from one container) before starting the new version.",
        )
    return ok(FAMILY, "schema", f"at migration {head} (current)")


def _hosts(engine: Engine) -> set[str]:
    """Processes that have held sync leases (owner is ``host:pid:random``)."""
    with engine.connect() as conn:
        owners = conn.scalars(
            select(SyncState.lease_owner).where(SyncState.lease_owner.is_not(None)).distinct()
        ).all()
    return {":".join(str(o).split(":")[:2]) for o in owners}


def backend(engine: Engine, environ: Mapping[str, str]) -> Check:
    replicas = sigs.REPLICAS.get(environ)
    workers = _hosts(engine)
    dialect = engine.dialect.name
    if dialect == "postgresql":
        return ok(FAMILY, "backend", "PostgreSQL")
    several = []
    if replicas > 1:
        several.append(f"{sigs.REPLICAS.env}={replicas}")
    if len(workers) > 1:
        several.append(f"sync leases held by {len(workers)} different processes")
    if several:
        return failure(
            FAMILY,
            "backend",
            f"SQLite, with several processes ({'; '.join(several)}): SQLite allows one writer "
            "on one host",
            f"Use PostgreSQL: {sigs.DATABASE_URL.env}=postgresql://user@host/whoknows, then "
            "`whoknows db upgrade`.",
        )
    return warning(
        FAMILY,
        "backend",
        "SQLite: fine for a trial with one container, not for production",
        f"Use PostgreSQL in production ({sigs.DATABASE_URL.env}=postgresql://user@host/whoknows) "
        f"and set {sigs.REPLICAS.env} to the number of containers and sync workers.",
    )


def _utc(at: datetime | None) -> datetime | None:
    if at is None:
        return None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def freshness(engine: Engine, options: Options, environ: Mapping[str, str]) -> list[Check]:
    interval = timedelta(seconds=ss.SYNC_INTERVAL.get(environ))
    limit = max(MIN_STALE, interval * STALE_AFTER_INTERVALS)
    cutoff = options.now - limit
    behind = case(
        (or_(SyncState.last_success_at.is_(None), SyncState.last_success_at < cutoff), 1),
        else_=0,
    )
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                SyncState.source,
                func.count(),
                func.max(SyncState.last_success_at),
                func.sum(behind),
            )
            .group_by(SyncState.source)
            .order_by(SyncState.source)
        ).all()
        failing = conn.execute(
            select(SyncState.source, SyncState.scope, SyncState.last_error, Person.upn)
            .outerjoin(Person, Person.entra_id == SyncState.scope)
            .where(SyncState.last_error.is_not(None))
            .order_by(SyncState.source, SyncState.scope)
        ).all()
    if not rows:
        return [
            warning(
                FAMILY,
                "sync",
                "no sync has run yet: the store holds no Microsoft 365 data",
                "Start the sync worker (`whoknows sync`), after the Microsoft 365 checks pass.",
            )
        ]
    checks = []
    for source, n, newest_at, lagging in rows:
        newest = _utc(newest_at)
        name = f"sync {source}"
        if newest is None:
            checks.append(
                warning(FAMILY, name, "never completed", "Check that `whoknows sync` runs.")
            )
            continue
        age = options.now - newest
        if age > limit:
            checks.append(
                warning(
                    FAMILY,
                    name,
                    f"last success {newest:%Y-%m-%d %H:%M} UTC, {_age(age)} ago (expected every "
                    f"{_age(interval)})",
                    "Check that `whoknows sync` runs and what it logs (`whoknows sync --status`).",
                )
            )
        elif lagging:
            checks.append(
                warning(
                    FAMILY,
                    name,
                    f"{n - lagging} of {n} up to date; {lagging} not synced in {_age(limit)}",
                    "See `whoknows sync --status` and the failing mailboxes below.",
                )
            )
        else:
            scope = f" ({n} mailboxes)" if n > 1 else ""
            checks.append(ok(FAMILY, name, f"last success {_age(age)} ago{scope}"))
    if failing:
        listed = [
            f"{source} {upn or scope or '(tenant)'}: {str(error)[:160]}"
            for source, scope, error, upn in failing[:LISTED]
        ]
        more = f" and {len(failing) - LISTED} more" if len(failing) > LISTED else ""
        checks.append(
            warning(
                FAMILY,
                "failing sources",
                f"{len(failing)} failing: " + "; ".join(listed) + more,
                "403 on a mailbox: outside the Exchange RBAC scope or the permission is missing; "
                "404: no Exchange Online mailbox. Others: see `whoknows sync --status`.",
            )
        )
    return checks


def _age(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds >= 2 * 86400:
        return f"{seconds // 86400} days"
    if seconds >= 2 * 3600:
        return f"{seconds // 3600} hours"
    return f"{max(1, seconds // 60)} minutes"


def run(options: Options, environ: Mapping[str, str]) -> list[Check]:
    try:
        engine = db.make_engine(options.db_url)
    except Exception as exc:  # a malformed URL
        return [
            failure(
                FAMILY,
                "database",
                f"cannot use {sigs.DATABASE_URL.env}: {exc}",
                "Use sqlite:///path/to/whoknows.db or postgresql://user@host/db.",
            )
        ]
    database = engine.url.database
    local = engine.dialect.name == "sqlite" and database and database != ":memory:"
    if local and not Path(str(database)).is_file():
        engine.dispose()
        return [
            failure(
                FAMILY,
                "database",
                f"no store at {database}",
                f"Set {sigs.DATABASE_URL.env} to the store's URL, or create it with "
                "`whoknows db upgrade`.",
            )
        ]
    try:
        first = answers(engine)
        if first.status != "ok":
            return [first]
        checks = [first, schema(engine)]
        if checks[-1].status != "ok":
            return checks
        checks.append(backend(engine, environ))
        return checks + freshness(engine, options, environ)
    finally:
        engine.dispose()
