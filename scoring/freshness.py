"""How current an answer's data is: the mail sync's last success, else the newest
imported message. Every answer says it, and says plainly when it is stale."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from signals.models import Interaction, Kind, SyncState

# Older than this, or a failing sync, and the answer says its data is stale.
STALE_AFTER = timedelta(days=1)
Source = Literal["sync", "import", "none"]


@dataclass(frozen=True)
class Freshness:
    source: Source
    """``sync`` (Graph mail sync), ``import`` (files imported), ``none`` (no mail yet)."""
    data_until: datetime | None
    """Mail is complete up to here: the least recent successful sync of a mailbox
    folder, or the newest imported message."""
    failing: int = 0
    """Mail sync sources whose last run failed."""
    stale: bool = False

    def to_json(self, now: datetime) -> dict[str, Any]:
        age = None if self.data_until is None else (now - self.data_until).total_seconds()
        return {
            "source": self.source,
            "data_until": None if self.data_until is None else self.data_until.isoformat(),
            "age_minutes": None if age is None else max(0, int(age // 60)),
            "failing_sources": self.failing,
            "stale": self.stale,
        }


def freshness(session: Session, now: datetime) -> Freshness:
    """Two indexed aggregate reads; mail sync states first, imported mail otherwise."""
    synced, failing, states = session.execute(
        select(
            func.min(SyncState.last_success_at),
            func.count(SyncState.last_error),
            func.count(),
        ).where(SyncState.source.like("mail:%"))
    ).one()
    if states:
        stale = bool(failing) or synced is None or now - synced > STALE_AFTER
        return Freshness("sync", synced, int(failing), stale)
    # Not "max over everything": a wrong Date header can lie in the future.
    newest = session.scalar(
        select(func.max(Interaction.occurred_at)).where(
            Interaction.kind == Kind.EMAIL.value, Interaction.occurred_at <= now
        )
    )
    if newest is None:
        return Freshness("none", None, 0, True)
    return Freshness("import", newest, 0, now - newest > STALE_AFTER)
