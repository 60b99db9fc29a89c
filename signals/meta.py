"""Facts about a store that must not change behind its aggregates' back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from signals import settings
from signals.aggregate import DEFAULT_EPOCH, DecayClock
from signals.models import StoreMeta

PAIR_MODES = ("internal", "all")


@dataclass(frozen=True)
class StoreFacts:
    """epoch and half_life_days are baked into the aggregates; pair_mode says which
    pairs are kept: colleague -> external contact ("internal"), or anyone -> anyone
    ("all", for evaluation on a mailbox without a known organisation)."""

    epoch: datetime
    half_life_days: float
    pair_mode: str
    max_audience: int

    @property
    def clock(self) -> DecayClock:
        return DecayClock(self.epoch, self.half_life_days)


def read_facts(conn: Connection | Session) -> StoreFacts:
    rows = dict(conn.execute(select(StoreMeta.key, StoreMeta.value)).all())
    return StoreFacts(
        epoch=datetime.fromisoformat(rows["epoch"]) if "epoch" in rows else DEFAULT_EPOCH,
        half_life_days=float(rows.get("half_life_days", settings.HALF_LIFE_DAYS.get())),
        pair_mode=rows.get("pair_mode", "internal"),
        max_audience=int(rows.get("max_audience", settings.MAX_AUDIENCE.get())),
    )


def write_facts(session: Session, facts: StoreFacts) -> None:
    values = {
        "epoch": facts.epoch.isoformat(),
        "half_life_days": repr(facts.half_life_days),
        "pair_mode": facts.pair_mode,
        "max_audience": str(facts.max_audience),
    }
    for key, value in values.items():
        session.merge(StoreMeta(key=key, value=value))


def facts_from_settings(pair_mode: str = "internal") -> StoreFacts:
    if pair_mode not in PAIR_MODES:
        raise ValueError(f"pair mode must be one of {PAIR_MODES}")
    return StoreFacts(
        epoch=DEFAULT_EPOCH,
        half_life_days=settings.HALF_LIFE_DAYS.get(),
        pair_mode=pair_mode,
        max_audience=settings.MAX_AUDIENCE.get(),
    )
