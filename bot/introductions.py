"""Introductions: the rules checked on every click, requests, answers and delivery state."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from bot import settings as bot_settings
from bot.lookup import answer_for, lookup_views
from bot.users import Refusal, User, primary_email, remember_conversation, utcnow
from bot.views import (
    lead_view,
    person_ref,
)
from cards import texts
from cards.views import (
    ColleagueView,
    ComposeView,
    IntroductionView,
    LeadView,
    PersonRef,
    RequestView,
)
from scoring import settings as scoring_settings
from scoring.answer import lead_by_id
from scoring.ranking import RankedColleague
from scoring.resolve import Match
from signals.models import (
    REQUEST_OPEN,
    Address,
    ConversationRef,
    Introduction,
    PairStrength,
    Person,
)
from signals.store import audit


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
    look = lookup_views(session, answer, user)
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
    now = utcnow()
    existing = session.scalar(
        select(Introduction).where(
            Introduction.requester_id == c.user.person_id,
            Introduction.introducer_id == colleague_id,
            Introduction.lead_id == lead_id,
            Introduction.state == REQUEST_OPEN,
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
                Introduction.state == REQUEST_OPEN,
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
        state=REQUEST_OPEN,
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
    # The lead of a stored request was checked when it was made.
    lead = lead_by_id(session, "person", intro.lead_id, internal_leads=True)
    if requester is None or colleague is None or lead is None:
        raise Refusal(texts.REQUEST_GONE)
    emails = list(session.scalars(select(Address.email).where(Address.person_id == lead.id)))
    return IntroductionView(
        state=state,  # type: ignore[arg-type]
        requester=person_ref(requester, primary_email(session, requester.id)),
        colleague=person_ref(colleague, primary_email(session, colleague.id)),
        lead=lead_view(lead, emails),
        today=utcnow().date(),
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
    if intro.state != REQUEST_OPEN:
        return Answered(
            _status(session, intro, intro.state),
            _status(session, intro, "notice_" + intro.state),
            None,
        )
    intro.state = state
    intro.answered_at = utcnow()
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
