"""Which worker syncs what: one lease per sync_state row, taken with a compare-and-set.

On PostgreSQL the candidate row is picked with ``SELECT ... FOR UPDATE SKIP LOCKED`` so
that workers claiming at the same moment pass over each other's rows instead of
queueing; on both backends the claim itself is an ``UPDATE`` that only succeeds while
the row is free or its lease has lapsed, so a dead worker's mailbox is taken over once
its lease expires. A worker renews its lease with every page it commits.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Connection, Engine, and_, exists, func, or_, select, update

from signals.db import dialect_insert
from signals.graph.errors import LeaseLost
from signals.models import Address, Person, SyncState


def ensure_rows(conn: Connection, source: str, scopes: Iterable[str]) -> None:
    """Create the state rows that do not exist yet."""
    rows = [{"source": source, "scope": s, "items_total": 0} for s in scopes]
    if not rows:
        return
    stmt = dialect_insert(conn, SyncState)
    conn.execute(stmt.on_conflict_do_nothing(index_elements=["source", "scope"]), rows)


def state_id(conn: Connection, source: str, scope: str) -> int:
    ensure_rows(conn, source, [scope])
    return int(
        conn.execute(
            select(SyncState.id).where(SyncState.source == source, SyncState.scope == scope)
        ).scalar_one()
    )


def _free(now: datetime) -> ColumnElement[bool]:
    return or_(SyncState.lease_owner.is_(None), SyncState.lease_expires_at < now)


def claim(
    engine: Engine,
    source: str,
    *,
    owner: str,
    now: datetime,
    lease_seconds: float,
    not_synced_since: datetime | None = None,
    mailboxes_only: bool = False,
    skip_scopes: Collection[str] = (),
    excluded_emails: Collection[str] = (),
    excluded_departments: Collection[str] = (),
) -> tuple[int, str] | None:
    """Lease one row of ``source`` that is free (and not synced since the given time).

    With ``mailboxes_only`` the row's scope must be a colleague who is enabled and has
    not opted out: an opted-out mailbox is never handed to a worker.
    """
    expires = now + timedelta(seconds=lease_seconds)
    conditions: list[ColumnElement[bool]] = [SyncState.source == source, _free(now)]
    if not_synced_since is not None:
        conditions.append(
            or_(SyncState.last_success_at.is_(None), SyncState.last_success_at < not_synced_since)
        )
    if skip_scopes:
        conditions.append(SyncState.scope.not_in(sorted(skip_scopes)))
    query = select(SyncState.id, SyncState.scope).where(and_(*conditions))
    if mailboxes_only:
        query = query.join(Person, Person.entra_id == SyncState.scope).where(
            Person.opted_out.is_(False), Person.enabled.is_(True)
        )
        if excluded_departments:
            query = query.where(
                func.lower(func.coalesce(Person.department, "")).not_in(
                    sorted(d.lower() for d in excluded_departments)
                )
            )
        if excluded_emails:
            query = query.where(
                ~exists().where(
                    Address.person_id == Person.id, Address.email.in_(sorted(excluded_emails))
                )
            )
    query = query.order_by(SyncState.last_success_at.is_not(None), SyncState.id)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            query = query.limit(1).with_for_update(skip_locked=True, of=SyncState)
            candidates = list(conn.execute(query).all())
        else:
            candidates = list(conn.execute(query.limit(50)).all())
        for row_id, scope in candidates:
            taken = conn.execute(
                update(SyncState)
                .where(SyncState.id == row_id, _free(now))
                .values(lease_owner=owner, lease_expires_at=expires, last_started_at=now)
            )
            if taken.rowcount == 1:
                return int(row_id), str(scope)
    return None


def renew(
    conn: Connection, row_id: int, *, owner: str, now: datetime, lease_seconds: float
) -> None:
    """Extend our lease inside the caller's transaction; LeaseLost if it is not ours."""
    result = conn.execute(
        update(SyncState)
        .where(SyncState.id == row_id, SyncState.lease_owner == owner)
        .values(lease_expires_at=now + timedelta(seconds=lease_seconds))
    )
    if result.rowcount != 1:
        raise LeaseLost(f"lease on sync_state {row_id} was taken over by another worker")


def release(
    engine: Engine,
    row_id: int,
    *,
    owner: str,
    now: datetime,
    error: str | None,
    items: int = 0,
    done: bool = True,
) -> None:
    """Give the row back, noting success (no error), the error, or neither (not done)."""
    values: dict[str, object] = {"lease_owner": None, "lease_expires_at": None, "last_error": error}
    if error is None and done:
        values["last_success_at"] = now
    if items:
        values["items_total"] = SyncState.items_total + items
    with engine.begin() as conn:
        conn.execute(
            update(SyncState)
            .where(SyncState.id == row_id, SyncState.lease_owner == owner)
            .values(**values)
        )
