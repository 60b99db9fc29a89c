"""Store-wide operations: create, list detection, forgetting a person."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, Result, and_, distinct, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from signals import db, privacy, settings
from signals.meta import StoreFacts, facts_from_settings, read_facts, write_facts
from signals.models import (
    Address,
    AuditEntry,
    CrmRecord,
    PairStrength,
    Participant,
    Person,
    Role,
)
from signals.privacy import Forgotten


def create_store(url: str | None = None, *, pair_mode: str = "internal") -> Engine:
    """Migrate the store to the newest schema and record its facts (first time only)."""
    engine = db.make_engine(url)
    db.upgrade(engine)
    with db.transaction(engine) as session:
        if session.scalar(select(func.count()).select_from(PairStrength)) == 0:
            current = read_facts(session)
            wanted = facts_from_settings(pair_mode)
            if current != wanted:
                write_facts(session, wanted)
    return engine


def set_facts(engine: Engine, facts: StoreFacts) -> None:
    with db.transaction(engine) as session:
        write_facts(session, facts)


def detect_lists(engine: Engine, min_senders: int | None = None) -> int:
    """Flag addresses that receive from many senders and never send: lists, aliases.

    Returns how many people are flagged now.
    """
    threshold = settings.LIST_MIN_SENDERS.get() if min_senders is None else min_senders
    recipient = aliased(Participant)
    author = aliased(Participant)
    senders_per_recipient = (
        select(recipient.person_id, func.count(distinct(author.person_id)).label("senders"))
        .join(
            author,
            and_(author.interaction_id == recipient.interaction_id, author.role == Role.FROM.value),
        )
        .where(recipient.role.in_([Role.TO.value, Role.CC.value, Role.BCC.value]))
        .group_by(recipient.person_id)
        .subquery()
    )
    never_sent = (
        select(Address.person_id)
        .group_by(Address.person_id)
        .having(func.sum(Address.sent_count) == 0)
        .subquery()
    )
    # Known humans are never a list: colleagues from the directory, owners of mailboxes
    # that were read, CRM leads and contacts.
    known_humans = (
        select(Person.id)
        .where(or_(Person.entra_id.is_not(None), Person.mailbox_analysed_at.is_not(None)))
        .union(select(CrmRecord.person_id).where(CrmRecord.person_id.is_not(None)))
    )
    candidates = select(senders_per_recipient.c.person_id).where(
        senders_per_recipient.c.senders >= threshold,
        senders_per_recipient.c.person_id.in_(select(never_sent.c.person_id)),
        senders_per_recipient.c.person_id.not_in(known_humans),
    )
    with db.transaction(engine) as session:
        # Recomputed each time: later mail (a message from the address, a mailbox found
        # to be its owner's) can clear an earlier verdict.
        session.execute(
            update(Person).where(Person.is_list, Person.id.not_in(candidates)).values(is_list=False)
        )
        session.execute(update(Person).where(Person.id.in_(candidates)).values(is_list=True))
        return int(session.scalar(select(func.count()).where(Person.is_list)) or 0)


def _rowcount(result: Result[Any]) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def mark_mailbox_owners(engine: Engine, emails: set[str]) -> int:
    """Note that these addresses' mailboxes were read (an import found their owners)."""
    if not emails:
        return 0
    from datetime import UTC, datetime

    with engine.begin() as conn:
        return privacy.mark_mailboxes_read(conn, emails=emails, at=datetime.now(UTC))


def forget_person(session: Session, person_id: int) -> Forgotten:
    """Delete what the store holds about a person (see :func:`signals.privacy.erase`)."""
    return privacy.erase(session.connection(), person_id)


def audit(session: Session, actor: str, action: str, subject: str = "", detail: str = "") -> None:
    from datetime import UTC, datetime

    session.add(
        AuditEntry(at=datetime.now(UTC), actor=actor, action=action, subject=subject, detail=detail)
    )
