"""Privacy: what the store holds about a user, opting out (with deletion) and back in."""

from __future__ import annotations

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from bot.users import User, utcnow
from cards.views import (
    DataCounts,
    MyDataView,
)
from signals import privacy
from signals.models import (
    Interaction,
    Introduction,
    PairStrength,
    Participant,
    Person,
)
from signals.privacy import Forgotten
from signals.store import audit


def data_counts(session: Session, person_id: int) -> DataCounts:
    rows = dict(
        (kind, n)
        for kind, n in session.execute(
            select(Interaction.kind, func.count(func.distinct(Interaction.id)))
            .join(Participant, Participant.interaction_id == Interaction.id)
            .where(Participant.person_id == person_id)
            .group_by(Interaction.kind)
        )
    )
    contacts = (
        session.scalar(
            select(func.count())
            .select_from(PairStrength)
            .where(PairStrength.introducer_id == person_id)
        )
        or 0
    )
    scores = (
        session.scalar(
            select(func.count())
            .select_from(PairStrength)
            .where(or_(PairStrength.introducer_id == person_id, PairStrength.lead_id == person_id))
        )
        or 0
    )
    made = (
        session.scalar(
            select(func.count())
            .select_from(Introduction)
            .where(Introduction.requester_id == person_id)
        )
        or 0
    )
    received = (
        session.scalar(
            select(func.count())
            .select_from(Introduction)
            .where(Introduction.introducer_id == person_id)
        )
        or 0
    )
    return DataCounts(
        emails=rows.get("email", 0),
        meetings=rows.get("meeting", 0),
        calls=rows.get("call", 0),
        chats=rows.get("chat", 0),
        contacts=contacts,
        scores=scores,
        requests_made=made,
        requests_received=received,
    )


def my_data(session: Session, user: User) -> MyDataView:
    person = session.get(Person, user.person_id)
    assert person is not None
    span = session.execute(
        select(func.min(Interaction.occurred_at), func.max(Interaction.occurred_at))
        .join(Participant, Participant.interaction_id == Interaction.id)
        .where(Participant.person_id == user.person_id)
    ).one()
    return MyDataView(
        name=user.name,
        email=user.email or "",
        counts=data_counts(session, user.person_id),
        today=utcnow().date(),
        opted_out=person.opted_out,
        mailbox_analysed_on=person.mailbox_analysed_at.date()
        if person.mailbox_analysed_at
        else None,
        first_record=span[0].date() if span[0] else None,
        last_record=span[1].date() if span[1] else None,
    )


def opt_out(session: Session, user: User) -> tuple[DataCounts, Forgotten]:
    """Opt out and delete, in one transaction; returns what was deleted. The privacy
    gate's lock comes first, so writers under way finish before the counts are read."""
    conn = session.connection()
    privacy.hold(conn, exclusive=True)
    counts = data_counts(session, user.person_id)
    forgotten = privacy.opt_out(conn, user.person_id, now=utcnow())
    session.expire_all()
    audit(
        session,
        user.email or str(user.person_id),
        "privacy.opted_out",
        detail=privacy.forgotten_detail(forgotten),
    )
    return counts, forgotten


def opt_in(session: Session, user: User) -> None:
    """Join again: nothing dated before this moment is stored (signals.privacy)."""
    privacy.opt_in(session.connection(), user.person_id, now=utcnow())
    session.expire_all()
    audit(session, user.email or str(user.person_id), "privacy.opted_in")
