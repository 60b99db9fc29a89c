"""New-lead heads-ups, the store side: the row a newly assigned lead claims.

The CRM sync calls :func:`claim` in the transaction that stores the assignment. The row
is unique per (lead record, owner), so two sync runs or two workers seeing the same
assignment make one row between them; the bot (``bot.headsup``) sends it once.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import Session

from signals.db import dialect_insert
from signals.models import HEADS_UP_PENDING, HeadsUp


def claim(session: Session, crm_record_id: int, owner_id: int) -> bool:
    """Record that ``owner_id`` was assigned the lead; False when that was known already."""
    inserted = session.execute(
        dialect_insert(session, HeadsUp)
        .values(
            crm_record_id=crm_record_id,
            owner_id=owner_id,
            created_at=datetime.now(UTC),
            state=HEADS_UP_PENDING,
            detail="",
        )
        .on_conflict_do_nothing(index_elements=["crm_record_id", "owner_id"])
        .returning(HeadsUp.id)
    ).scalar()
    return inserted is not None
