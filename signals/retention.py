"""Retention: what is older than the store keeps is deleted, and when that last ran.

Interactions older than the look-back window (``WHOKNOWS_RETENTION_DAYS``) and audit
entries older than ``WHOKNOWS_AUDIT_RETENTION_DAYS`` go. The connection scores that
counted a purged interaction are marked stale before it goes and recomputed right
after (``signals.stale``), so no score keeps counting what is no longer stored. The
sync worker calls :func:`purge` once per run, ``whoknows db purge`` on demand; the
last run's time and counts are kept in ``store_meta`` for ``whoknows sync --status``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine, delete, select

from signals import settings, stale
from signals.db import dialect_insert
from signals.ingest import chunks
from signals.models import AuditEntry, Interaction, StoreMeta

LAST_PURGE_KEY = "retention_last_purge"
_PURGE_CHUNK = 5000


@dataclass
class Purged:
    """One purge: when it ran, the cut-off times and what it removed."""

    at: str
    interactions_before: str
    audit_before: str
    interactions: int = 0
    audit_entries: int = 0
    pairs_refreshed: int = 0

    def line(self) -> str:
        return (
            f"last purge {self.at}: {self.interactions} interactions before "
            f"{self.interactions_before[:10]}, {self.audit_entries} audit entries before "
            f"{self.audit_before[:10]}, {self.pairs_refreshed} connections refreshed"
        )


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def purge_in(conn: Connection, *, now: datetime, retention_days: int, audit_days: int) -> Purged:
    """Delete what is past its retention, in the caller's transaction (scores that
    counted it are marked stale, not yet recomputed)."""
    cutoff = now - timedelta(days=retention_days)
    audit_cutoff = now - timedelta(days=audit_days)
    done = Purged(_iso(now), _iso(cutoff), _iso(audit_cutoff))
    old = list(
        conn.execute(select(Interaction.id).where(Interaction.occurred_at < cutoff)).scalars()
    )
    for part in chunks(old, _PURGE_CHUNK):
        stale.mark(conn, part)  # while their participants are still stored
        done.interactions += len(part)
        conn.execute(delete(Interaction).where(Interaction.id.in_(part)))
    result = conn.execute(delete(AuditEntry).where(AuditEntry.at < audit_cutoff))
    done.audit_entries = int(getattr(result, "rowcount", 0) or 0)
    return done


def _remember(conn: Connection, done: Purged) -> None:
    value = json.dumps(asdict(done), sort_keys=True)
    stmt = dialect_insert(conn, StoreMeta).values(key=LAST_PURGE_KEY, value=value)
    conn.execute(stmt.on_conflict_do_update(index_elements=["key"], set_={"value": value}))


def purge(
    engine: Engine,
    *,
    now: datetime | None = None,
    retention_days: int | None = None,
    audit_days: int | None = None,
) -> Purged:
    """Delete what is past its retention, recompute the scores it touched, note the run."""
    with engine.begin() as conn:
        done = purge_in(
            conn,
            now=now or datetime.now(UTC),
            retention_days=retention_days or int(settings.RETENTION_DAYS.get()),
            audit_days=audit_days or int(settings.AUDIT_RETENTION_DAYS.get()),
        )
    done.pairs_refreshed = stale.refresh_stale(engine).pairs
    with engine.begin() as conn:
        _remember(conn, done)
    return done


def last_purge(conn: Connection) -> Purged | None:
    """The last purge's record, or None when none has run."""
    value = conn.execute(select(StoreMeta.value).where(StoreMeta.key == LAST_PURGE_KEY)).scalar()
    if not value:
        return None
    return Purged(**json.loads(value))
