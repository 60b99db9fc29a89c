"""Which worker syncs what: one lease per sync_state row, taken with a compare-and-set.

On PostgreSQL the candidate row is picked with ``SELECT ... FOR UPDATE SKIP LOCKED`` so
that workers claiming at the same moment pass over each other's rows instead of
queueing; on both backends the claim itself is an ``UPDATE`` that only succeeds while
the row is free or its lease has lapsed, so a dead worker's mailbox is taken over once
its lease expires. A worker renews its lease with every page it commits.

A row whose work failed is not handed out again before its ``retry_at``: exponential
backoff with jitter (:class:`Backoff`), reset by the next success.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeVarTuple

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Select,
    and_,
    exists,
    func,
    or_,
    select,
    update,
)

from signals.db import dialect_insert
from signals.graph.errors import LeaseLost
from signals.models import Address, Person, SyncState

Ts = TypeVarTuple("Ts")


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


@dataclass(frozen=True)
class MailboxFilter:
    """Which mailbox rows may be handed out: colleagues enabled, not opted out, not excluded."""

    skip_scopes: Collection[str] = ()
    excluded_emails: Collection[str] = ()
    excluded_departments: Collection[str] = ()


@dataclass(frozen=True)
class Backoff:
    """Delay before retrying a row that failed ``failures`` times in a row: doubling from
    ``base`` up to ``cap`` seconds, times a random factor in [0.5, 1) (jitter)."""

    base: float = 30.0
    cap: float = 3600.0
    rand: Callable[[], float] = field(default=random.random)

    def delay(self, failures: int) -> float:
        return float(min(self.cap, self.base * 2 ** max(0, failures - 1)) * (0.5 + self.rand() / 2))


def _free(now: datetime) -> ColumnElement[bool]:
    return and_(
        or_(SyncState.lease_owner.is_(None), SyncState.lease_expires_at < now),
        or_(SyncState.retry_at.is_(None), SyncState.retry_at <= now),
    )


def _pending(source: str, not_synced_since: datetime | None) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [SyncState.source == source]
    if not_synced_since is not None:
        conditions.append(
            or_(SyncState.last_success_at.is_(None), SyncState.last_success_at < not_synced_since)
        )
    return conditions


def _in_scope(query: Select[*Ts], mailboxes: MailboxFilter) -> Select[*Ts]:
    """Only rows of colleagues who may be read: an opted-out mailbox is never handed out."""
    query = query.join(Person, Person.entra_id == SyncState.scope).where(
        Person.opted_out.is_(False), Person.enabled.is_(True)
    )
    if mailboxes.skip_scopes:
        query = query.where(SyncState.scope.not_in(sorted(mailboxes.skip_scopes)))
    if mailboxes.excluded_departments:
        query = query.where(
            func.lower(func.coalesce(Person.department, "")).not_in(
                sorted(d.lower() for d in mailboxes.excluded_departments)
            )
        )
    if mailboxes.excluded_emails:
        query = query.where(
            ~exists().where(
                Address.person_id == Person.id,
                Address.email.in_(sorted(mailboxes.excluded_emails)),
            )
        )
    return query


def claim(
    engine: Engine,
    source: str,
    *,
    owner: str,
    now: datetime,
    lease_seconds: float,
    not_synced_since: datetime | None = None,
    mailboxes: MailboxFilter | None = None,
) -> tuple[int, str] | None:
    """Lease one row of ``source`` that is free (and not synced since the given time).

    With ``mailboxes`` the row's scope must be a colleague that filter lets through.
    """
    expires = now + timedelta(seconds=lease_seconds)
    conditions = [*_pending(source, not_synced_since), _free(now)]
    query = select(SyncState.id, SyncState.scope).where(and_(*conditions))
    if mailboxes is not None:
        query = _in_scope(query, mailboxes)
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


def renew(conn: Connection, *row_ids: int, owner: str, now: datetime, lease_seconds: float) -> None:
    """Extend our leases inside the caller's transaction; LeaseLost if one is not ours."""
    result = conn.execute(
        update(SyncState)
        .where(SyncState.id.in_(row_ids), SyncState.lease_owner == owner)
        .values(lease_expires_at=now + timedelta(seconds=lease_seconds))
    )
    if result.rowcount != len(set(row_ids)):
        rows = ", ".join(str(i) for i in sorted(set(row_ids)))
        raise LeaseLost(f"a lease on sync_state {rows} was taken over by another worker")


@dataclass(frozen=True)
class Outcome:
    """How the work under a lease ended: done, failed (``error``), or stopped early."""

    error: str | None = None
    items: int = 0
    done: bool = True


def release(
    engine: Engine,
    row_id: int,
    *,
    owner: str,
    now: datetime,
    outcome: Outcome,
    backoff: Backoff | None = None,
) -> None:
    """Give the row back, noting success, the error (and when to retry), or neither."""
    values: dict[str, object] = {"lease_owner": None, "lease_expires_at": None}
    if outcome.error is None and outcome.done:
        values.update(last_success_at=now, last_error=None, failures=0, retry_at=None)
    if outcome.items:
        values["items_total"] = SyncState.items_total + outcome.items
    with engine.begin() as conn:
        if outcome.error is not None:
            failures = 1 + int(
                conn.execute(select(SyncState.failures).where(SyncState.id == row_id)).scalar() or 0
            )
            delay = (backoff or Backoff()).delay(failures)
            values.update(
                last_error=outcome.error,
                failures=failures,
                retry_at=now + timedelta(seconds=delay),
            )
        conn.execute(
            update(SyncState)
            .where(SyncState.id == row_id, SyncState.lease_owner == owner)
            .values(**values)
        )


def release_all(engine: Engine, owner: str) -> int:
    """Give back every lease ``owner`` holds (stopping, or resuming after an outage)."""
    with engine.begin() as conn:
        result = conn.execute(
            update(SyncState)
            .where(SyncState.lease_owner == owner)
            .values(lease_owner=None, lease_expires_at=None)
        )
    return int(result.rowcount or 0)


@dataclass(frozen=True)
class Waiting:
    """Rows of a source a worker could not take: leased by another worker, or backing off."""

    held: int = 0
    backing_off: int = 0


def waiting(
    engine: Engine,
    source: str,
    *,
    owner: str,
    now: datetime,
    not_synced_since: datetime | None = None,
    mailboxes: MailboxFilter | None = None,
) -> Waiting:
    """How many pending rows of ``source`` another worker holds, and how many back off."""
    held = and_(
        SyncState.lease_owner.is_not(None),
        SyncState.lease_owner != owner,
        SyncState.lease_expires_at >= now,
    )
    backing = and_(SyncState.retry_at.is_not(None), SyncState.retry_at > now)
    query = (
        select(func.count().filter(held), func.count().filter(and_(backing, ~held)))
        .select_from(SyncState)
        .where(*_pending(source, not_synced_since))
    )
    if mailboxes is not None:
        query = _in_scope(query, mailboxes)
    with engine.connect() as conn:
        row = conn.execute(query).one()
    return Waiting(held=int(row[0] or 0), backing_off=int(row[1] or 0))
