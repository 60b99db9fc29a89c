"""Merging two identities into one: a contact known under several addresses."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from signals import privacy
from signals.aggregate import PairDelta
from signals.db import dialect_insert
from signals.ingest import upsert_pairs
from signals.models import (
    FEATURES,
    Address,
    CrmRecord,
    PairStrength,
    Participant,
    Person,
    ThreadMember,
)


def _delta(row: Any) -> PairDelta:
    delta = PairDelta()
    for i, name in enumerate(FEATURES):
        delta.d[i] = getattr(row, "d_" + name)
        delta.n[i] = getattr(row, "n_" + name)
    delta.n_total = row.n_total
    delta.n_ignored = row.n_ignored
    delta.d_ignored = row.d_ignored
    delta.n_bulk = row.n_bulk
    delta.n_crowd = row.n_crowd
    delta.first_at = row.first_at
    delta.last_at = row.last_at
    delta.last_out_at = row.last_out_at
    delta.last_in_at = row.last_in_at
    delta.last_mutual_at = row.last_mutual_at
    return delta


def merge_identities(session: Session, *, keep: int, drop: int) -> None:
    """Move everything of ``drop`` onto ``keep`` and delete ``drop``.

    Aggregates are sums against one epoch, so merging two pairs is adding them.
    """
    if keep == drop:
        return
    session.flush()
    conn = session.connection()
    privacy.before_merge(conn, keep=keep, drop=drop)  # the gate: nothing refused moves
    session.execute(update(Address).where(Address.person_id == drop).values(person_id=keep))
    # Participants: the same interaction and role for both identities collapses to one.
    both = select(Participant.interaction_id, Participant.role).where(Participant.person_id == keep)
    for iid, role in session.execute(both).all():
        session.execute(
            delete(Participant).where(
                Participant.person_id == drop,
                Participant.interaction_id == iid,
                Participant.role == role,
            )
        )
    session.execute(update(Participant).where(Participant.person_id == drop).values(person_id=keep))
    kept_threads = set(
        session.scalars(select(ThreadMember.thread_key).where(ThreadMember.person_id == keep))
    )
    session.execute(
        delete(ThreadMember).where(
            ThreadMember.person_id == drop, ThreadMember.thread_key.in_(kept_threads)
        )
    )
    session.execute(
        update(ThreadMember).where(ThreadMember.person_id == drop).values(person_id=keep)
    )
    rows = (
        session.execute(
            select(PairStrength).where(
                or_(PairStrength.introducer_id == drop, PairStrength.lead_id == drop)
            )
        )
        .scalars()
        .all()
    )
    moved: dict[tuple[int, int], PairDelta] = {}
    for row in rows:
        introducer = keep if row.introducer_id == drop else row.introducer_id
        lead = keep if row.lead_id == drop else row.lead_id
        if introducer != lead:
            moved[(introducer, lead)] = _delta(row)
    session.execute(
        delete(PairStrength).where(
            or_(PairStrength.introducer_id == drop, PairStrength.lead_id == drop)
        )
    )
    upsert_pairs(conn, moved)
    session.execute(update(CrmRecord).where(CrmRecord.person_id == drop).values(person_id=keep))
    session.execute(delete(Person).where(Person.id == drop))


def claim_address(session: Session, email: str, person_id: int) -> None:
    """Attach ``email`` to ``person_id``, merging whoever held it before.

    Safe against a concurrent writer creating the same address: the insert does
    nothing on conflict and the holder found afterwards is merged in.
    """
    session.flush()
    session.execute(
        dialect_insert(session, Address)
        .values(email=email, person_id=person_id, sent_count=0)
        .on_conflict_do_nothing(index_elements=["email"])
    )
    holder = session.scalar(select(Address.person_id).where(Address.email == email))
    if holder is not None and holder != person_id:
        merge_identities(session, keep=person_id, drop=holder)
