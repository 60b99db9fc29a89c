"""What the conversation does with the store: plain synchronous functions on a Session.

The async layer (``bot.conversation``) runs each of these in a worker thread, so
the event loop never waits on the database. Nothing here trusts card data: ids
are looked up again, the colleague must really know the lead, the request must
belong to the person clicking, and the limits are checked every time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from bot import settings as bot_settings
from bot.views import (
    choice,
    colleague_views,
    coverage_view,
    evidence_view,
    lead_view,
    person_ref,
)
from cards import texts
from cards.settings import LIST_PAGE_SIZE
from cards.views import (
    ChoiceView,
    ColleagueView,
    ComposeView,
    DataCounts,
    DetailsView,
    IntroductionView,
    LeadView,
    ListPageView,
    MyDataView,
    NoMatchView,
    PersonRef,
    RequestView,
    ResultView,
)
from scoring import settings as scoring_settings
from scoring.answer import Answer, ask, lead_by_id
from scoring.ranking import RankedColleague
from scoring.resolve import Match
from signals.models import (
    Address,
    BotConversation,
    ConversationRef,
    Interaction,
    Introduction,
    PairStrength,
    Participant,
    Person,
)
from signals.store import Forgotten, audit, forget_person

OPEN = "sent"


class Refusal(Exception):
    """A request the user may not make; the message says why, politely."""


@dataclass(frozen=True)
class User:
    """The colleague behind a Teams user, when the directory knows them."""

    person_id: int
    name: str
    email: str | None
    upn: str | None
    entra_id: str | None
    opted_out: bool

    @property
    def ref(self) -> PersonRef:
        return PersonRef(self.name, self.email, self.person_id, self.upn or self.email)


def _now() -> datetime:
    return datetime.now(UTC)


def _insert(session: Session, model: type[Any]) -> Any:
    """INSERT with ON CONFLICT support for the store's dialect (PostgreSQL or SQLite)."""
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model)


def primary_email(session: Session, person_id: int) -> str | None:
    return session.scalar(
        select(Address.email).where(Address.person_id == person_id).order_by(Address.id).limit(1)
    )


def find_user(session: Session, aad_object_id: str | None, dev_mode: bool) -> User | None:
    """Map a Teams user to a colleague: by Entra object id; in local development, the
    configured stand-in (``WHOKNOWS_DEV_USER``)."""
    person = None
    if aad_object_id:
        person = session.scalar(
            select(Person).where(Person.entra_id == aad_object_id, Person.internal)
        )
    if person is None and dev_mode and bot_settings.DEV_USER.get():
        person = session.scalar(
            select(Person)
            .join(Address, Address.person_id == Person.id)
            .where(Address.email == bot_settings.DEV_USER.get().strip().lower())
        )
    if person is None:
        return None
    email = primary_email(session, person.id)
    return User(
        person.id, person.display_name, email, person.upn, person.entra_id, person.opted_out
    )


def remember_conversation(session: Session, person_id: int, reference: dict[str, Any]) -> None:
    """Keep the user's 1:1 conversation so that requests can reach them later.

    An upsert: Teams sends installationUpdate and conversationUpdate at once, and two
    turns inserting the same row would make one of them fail."""
    values = {"reference": json.dumps(reference), "updated_at": _now()}
    stmt = _insert(session, ConversationRef).values(person_id=person_id, **values)
    session.execute(stmt.on_conflict_do_update(index_elements=["person_id"], set_=values))


def first_welcome(
    session: Session, conversation_id: str, conversation_type: str | None, tenant_id: str | None
) -> bool:
    """True exactly once per conversation: the caller sends the welcome card then.

    Concurrent install turns race here; the insert that wins sends the welcome."""
    inserted = session.execute(
        _insert(session, BotConversation)
        .values(
            conversation_id=conversation_id,
            conversation_type=conversation_type,
            tenant_id=tenant_id,
            welcomed_at=_now(),
        )
        .on_conflict_do_nothing(index_elements=["conversation_id"])
        .returning(BotConversation.conversation_id)
    ).scalar()
    if inserted is not None:
        return True
    row = session.get(BotConversation, conversation_id, with_for_update=True)
    if row is None:
        return False
    if row.welcomed_at is None:
        row.welcomed_at = _now()
        return True
    return False


# -- who knows -----------------------------------------------------------------------


def _requested(session: Session, user: User | None, lead_ids: list[int]) -> set[int]:
    if user is None or not lead_ids:
        return set()
    return set(
        session.scalars(
            select(Introduction.introducer_id).where(
                Introduction.requester_id == user.person_id,
                Introduction.lead_id.in_(lead_ids),
                Introduction.state == OPEN,
            )
        )
    )


def _names(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return dict(
        (pid, name)
        for pid, name in session.execute(
            select(Person.id, Person.display_name).where(Person.id.in_(ids))
        )
    )


@dataclass
class Lookup:
    """A resolved answer, ready for any of the result cards."""

    answer: Answer
    lead: LeadView
    colleagues: tuple[ColleagueView, ...]
    today: date


def _lookup(session: Session, answer: Answer, user: User | None) -> Lookup:
    assert answer.lead is not None
    names = None
    ids = [answer.lead.id]
    if answer.is_company:
        ids = sorted({k.lead_id for c in answer.colleagues for k in c.connections})
        names = _names(session, set(ids))
    requested = _requested(session, user, ids)
    return Lookup(
        answer=answer,
        lead=lead_view(answer.lead, answer.lead_emails),
        colleagues=colleague_views(answer, names, requested),
        today=answer.now.date(),
    )


def who_knows(
    session: Session, text: str, user: User | None
) -> ResultView | ChoiceView | NoMatchView:
    """The answer card's view for typed text."""
    answer = ask(session, text, requester_email=user.email if user else None)
    if answer.lead is None:
        matches = answer.resolution.matches
        if len(matches) > 1:
            return ChoiceView(
                query=answer.resolution.cleaned, matches=tuple(choice(m) for m in matches)
            )
        suggestions = tuple(
            choice(m) for m in _suggestion_matches(session, answer.resolution.suggestions)
        )
        return NoMatchView(query=answer.resolution.cleaned, suggestions=suggestions)
    return result_view(session, answer, user)


def _suggestion_matches(session: Session, names: list[str]) -> list[Match]:
    out: list[Match] = []
    for name in names:
        found = ask(session, name).resolution.unique
        if found is not None:
            out.append(found)
    return out


def result_view(session: Session, answer: Answer, user: User | None) -> ResultView:
    look = _lookup(session, answer, user)
    return ResultView(
        query=answer.query,
        lead=look.lead,
        colleagues=look.colleagues,
        total=answer.total,
        coverage=coverage_view(answer.coverage),
        today=look.today,
        requester_knows_lead=answer.requester is not None,
        requester_evidence=evidence_view(answer.requester.best.evidence)
        if answer.requester
        else None,
    )


def answer_for(session: Session, kind: str, lead_id: int, user: User | None) -> Answer:
    """Re-rank a lead named by card data; Refusal when it doesn't exist."""
    match = lead_by_id(session, kind, lead_id)
    if match is None:
        raise Refusal(texts.LEAD_GONE)
    return ask(session, match.name, requester_email=user.email if user else None, choice=match)


def details(
    session: Session, kind: str, lead_id: int, colleague_id: int, user: User | None
) -> DetailsView:
    answer = answer_for(session, kind, lead_id, user)
    look = _lookup(session, answer, user)
    found = next((c for c in look.colleagues if c.person_id == colleague_id), None)
    if found is None:
        raise Refusal(texts.NOT_A_CONNECTION)
    return DetailsView(lead=look.lead, colleague=found, today=look.today)


def list_page(
    session: Session, kind: str, lead_id: int, page: int, user: User | None
) -> ListPageView:
    answer = answer_for(session, kind, lead_id, user)
    look = _lookup(session, answer, user)
    size = LIST_PAGE_SIZE.get()
    pages = max(1, -(-len(look.colleagues) // size))
    page = min(max(1, page), pages)
    rows = look.colleagues[(page - 1) * size : page * size]
    return ListPageView(
        lead=look.lead,
        colleagues=rows,
        page=page,
        page_size=size,
        total=len(look.colleagues),
        today=look.today,
    )


# -- introductions -------------------------------------------------------------------


@dataclass
class Checked:
    """A request the rules allow: who asks whom about whom."""

    user: User
    lead: LeadView
    lead_match: Match
    colleague: ColleagueView
    ranked: RankedColleague


def _check_connection(
    session: Session, user: User | None, lead_id: int, colleague_id: int
) -> Checked:
    if user is None:
        raise Refusal(texts.NOT_A_COLLEAGUE)
    if user.opted_out:
        raise Refusal(texts.OPTED_OUT_CANNOT_REQUEST)
    answer = answer_for(session, "person", lead_id, user)
    ranked = next((c for c in answer.colleagues if c.person.id == colleague_id), None)
    if ranked is None or answer.lead is None:
        raise Refusal(texts.NOT_A_CONNECTION)
    look = _lookup(session, answer, user)
    view = next(c for c in look.colleagues if c.person_id == colleague_id)
    return Checked(user, look.lead, answer.lead, view, ranked)


def compose(session: Session, user: User | None, lead_id: int, colleague_id: int) -> ComposeView:
    c = _check_connection(session, user, lead_id, colleague_id)
    return ComposeView(requester=c.user.ref, colleague=c.colleague, lead=c.lead)


@dataclass
class Created:
    """A new request, and where to deliver it."""

    request_id: int
    request_view: RequestView
    status: IntroductionView
    target: dict[str, Any] | None  # stored ConversationReference, if the bot has one
    entra_id: str | None


@dataclass
class Existing:
    status: IntroductionView


def create_request(
    session: Session, user: User | None, lead_id: int, colleague_id: int, note: str
) -> Created | Existing:
    """Record a request after every rule is checked again (the card data is not trusted)."""
    note = (note or "").strip()
    if not note:
        raise Refusal(texts.NOTE_REQUIRED)
    if len(note) > 4000:
        raise Refusal(texts.NOTE_TOO_LONG)
    c = _check_connection(session, user, lead_id, colleague_id)
    now = _now()
    existing = session.scalar(
        select(Introduction).where(
            Introduction.requester_id == c.user.person_id,
            Introduction.introducer_id == colleague_id,
            Introduction.lead_id == lead_id,
            Introduction.state == OPEN,
        )
    )
    colleague_ref = PersonRef(c.colleague.name, c.colleague.email, colleague_id, c.colleague.upn)
    if existing is not None:
        return Existing(
            IntroductionView(
                state="already_requested",
                requester=c.user.ref,
                colleague=colleague_ref,
                lead=c.lead,
                today=now.date(),
                request_id=existing.id,
                requested_on=existing.created_at.date(),
            )
        )
    today_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    sent_today = (
        session.scalar(
            select(func.count())
            .select_from(Introduction)
            .where(
                Introduction.requester_id == c.user.person_id,
                Introduction.created_at >= today_start,
            )
        )
        or 0
    )
    if sent_today >= bot_settings.REQUESTS_PER_DAY.get():
        raise Refusal(texts.daily_limit(bot_settings.REQUESTS_PER_DAY.get()))
    open_for_colleague = (
        session.scalar(
            select(func.count())
            .select_from(Introduction)
            .where(
                Introduction.introducer_id == colleague_id,
                Introduction.state == OPEN,
                Introduction.created_at >= now - timedelta(days=14),
            )
        )
        or 0
    )
    if open_for_colleague >= bot_settings.OPEN_REQUESTS_PER_COLLEAGUE.get():
        raise Refusal(texts.colleague_busy(c.colleague.name))
    intro = Introduction(
        requester_id=c.user.person_id,
        introducer_id=colleague_id,
        lead_id=lead_id,
        state=OPEN,
        note=note,
        channel="teams",
        created_at=now,
    )
    session.add(intro)
    session.flush()
    audit(
        session,
        c.user.email or str(c.user.person_id),
        "introduction.requested",
        subject=c.colleague.email,
        detail=json.dumps({"request": intro.id, "lead": lead_id}),
    )
    ref_row = session.get(ConversationRef, colleague_id)
    colleague_person = c.ranked.person
    return Created(
        request_id=intro.id,
        request_view=RequestView(
            request_id=intro.id,
            requester=c.user.ref,
            lead=c.lead,
            note=note,
            today=now.date(),
            sent_on=now.date(),
            evidence=c.colleague.evidence,
        ),
        status=IntroductionView(
            state="sent",
            requester=c.user.ref,
            colleague=colleague_ref,
            lead=c.lead,
            today=now.date(),
            request_id=intro.id,
            note=note,
            requested_on=now.date(),
        ),
        target=json.loads(ref_row.reference) if ref_row else None,
        entra_id=colleague_person.entra_id,
    )


def delivered(
    session: Session,
    request_id: int,
    activity_id: str,
    reference: dict[str, Any],
    colleague_id: int,
) -> None:
    intro = session.get(Introduction, request_id)
    if intro is not None:
        intro.request_activity_id = activity_id
    remember_conversation(session, colleague_id, reference)


def undeliverable(
    session: Session, request_id: int, reason: str, email_available: bool
) -> IntroductionView:
    """The colleague can't be reached in Teams: say so, offer e-mail or a chat link."""
    intro = session.get(Introduction, request_id)
    if intro is None:
        raise Refusal(texts.REQUEST_GONE)
    intro.channel = "unreachable"
    audit(
        session,
        str(intro.requester_id),
        "introduction.undeliverable",
        subject=str(intro.introducer_id),
        detail=reason,
    )
    return _status(session, intro, "unreachable", email_available=email_available)


def _status(
    session: Session, intro: Introduction, state: str, *, email_available: bool = False
) -> IntroductionView:
    requester = session.get(Person, intro.requester_id)
    colleague = session.get(Person, intro.introducer_id)
    lead = lead_by_id(session, "person", intro.lead_id)
    if requester is None or colleague is None or lead is None:
        raise Refusal(texts.REQUEST_GONE)
    emails = list(session.scalars(select(Address.email).where(Address.person_id == lead.id)))
    return IntroductionView(
        state=state,  # type: ignore[arg-type]
        requester=person_ref(requester, primary_email(session, requester.id)),
        colleague=person_ref(colleague, primary_email(session, colleague.id)),
        lead=lead_view(lead, emails),
        today=_now().date(),
        request_id=intro.id,
        note=intro.note,
        requested_on=intro.created_at.date(),
        email_available=email_available,
    )


ANSWERS = {"accept": "accepted", "decline": "declined", "not_known": "not_known"}


@dataclass
class Answered:
    colleague_card: IntroductionView
    notice: IntroductionView
    requester_target: dict[str, Any] | None


def answer_request(session: Session, user: User | None, request_id: int, verb: str) -> Answered:
    """The colleague's answer: only the colleague asked may give it, and only once."""
    intro = session.get(Introduction, request_id, with_for_update=True)
    if intro is None:
        raise Refusal(texts.REQUEST_GONE)
    if user is None or user.person_id != intro.introducer_id:
        raise Refusal(texts.NOT_YOUR_REQUEST)
    state = ANSWERS[verb]
    if intro.state != OPEN:
        return Answered(
            _status(session, intro, intro.state),
            _status(session, intro, "notice_" + intro.state),
            None,
        )
    intro.state = state
    intro.answered_at = _now()
    if state == "not_known":
        session.execute(
            update(PairStrength)
            .where(
                PairStrength.introducer_id == intro.introducer_id,
                PairStrength.lead_id == intro.lead_id,
            )
            .values(feedback_factor=scoring_settings.NOT_KNOWN_FACTOR.get())
        )
    audit(
        session,
        user.email or str(user.person_id),
        f"introduction.{state}",
        subject=str(intro.requester_id),
        detail=json.dumps({"request": intro.id}),
    )
    ref_row = session.get(ConversationRef, intro.requester_id)
    return Answered(
        colleague_card=_status(session, intro, state),
        notice=_status(session, intro, "notice_" + state),
        requester_target=json.loads(ref_row.reference) if ref_row else None,
    )


def request_for_email(
    session: Session, user: User | None, request_id: int
) -> tuple[Introduction, str, str]:
    """(request, requester e-mail, colleague e-mail) for the e-mail route; requester only."""
    intro = session.get(Introduction, request_id)
    if intro is None:
        raise Refusal(texts.REQUEST_GONE)
    if user is None or user.person_id != intro.requester_id:
        raise Refusal(texts.NOT_YOUR_REQUEST)
    sender = primary_email(session, intro.requester_id)
    recipient = primary_email(session, intro.introducer_id)
    if not sender or not recipient:
        raise Refusal(texts.REQUEST_GONE)
    return intro, sender, recipient


def sent_by_email(session: Session, request_id: int) -> IntroductionView:
    intro = session.get(Introduction, request_id)
    if intro is None:
        raise Refusal(texts.REQUEST_GONE)
    intro.channel = "email"
    audit(
        session, str(intro.requester_id), "introduction.emailed", subject=str(intro.introducer_id)
    )
    return _status(session, intro, "sent")


# -- privacy -------------------------------------------------------------------------


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
        today=_now().date(),
        opted_out=person.opted_out,
        mailbox_analysed_on=person.mailbox_analysed_at.date()
        if person.mailbox_analysed_at
        else None,
        first_record=span[0].date() if span[0] else None,
        last_record=span[1].date() if span[1] else None,
    )


def opt_out(session: Session, user: User) -> tuple[DataCounts, Forgotten]:
    """Opt out and delete, in one transaction; returns what was deleted."""
    person = session.get(Person, user.person_id, with_for_update=True)
    assert person is not None
    counts = data_counts(session, user.person_id)
    forgotten = forget_person(session, user.person_id)
    person.opted_out = True
    person.opted_out_at = _now()
    person.mailbox_analysed_at = None
    audit(
        session,
        user.email or str(user.person_id),
        "privacy.opted_out",
        detail=json.dumps(forgotten.__dict__),
    )
    return counts, forgotten


def opt_in(session: Session, user: User) -> None:
    person = session.get(Person, user.person_id)
    assert person is not None
    person.opted_out = False
    person.opted_out_at = None
    audit(session, user.email or str(user.person_id), "privacy.opted_in")
