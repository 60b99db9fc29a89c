"""Who knows a lead: the answer, details and list views, re-ranked from card ids."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import settings as bot_settings
from bot.users import Refusal, User
from bot.views import (
    choice,
    colleague_views,
    coverage_view,
    evidence_view,
    freshness_view,
    lead_view,
)
from cards import texts
from cards.settings import LIST_PAGE_SIZE
from cards.views import (
    ChoiceView,
    ColleagueView,
    DetailsView,
    LeadView,
    ListPageView,
    NoMatchView,
    ResultView,
)
from scoring.answer import Answer, ask, lead_by_id
from scoring.resolve import MAX_QUERY_CHARS, Match
from signals.models import (
    REQUEST_OPEN,
    Introduction,
    Person,
)


def _requested(session: Session, user: User | None, lead_ids: list[int]) -> set[int]:
    if user is None or not lead_ids:
        return set()
    return set(
        session.scalars(
            select(Introduction.introducer_id).where(
                Introduction.requester_id == user.person_id,
                Introduction.lead_id.in_(lead_ids),
                Introduction.state == REQUEST_OPEN,
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


def lookup_views(session: Session, answer: Answer, user: User | None) -> Lookup:
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
    answer = ask(
        session,
        text,
        requester_email=user.email if user else None,
        internal_leads=bot_settings.ALLOW_INTERNAL_LEADS.get(),
    )
    if answer.lead is None:
        matches = answer.resolution.matches
        if len(matches) > 1:
            return ChoiceView(
                query=answer.resolution.cleaned, matches=tuple(choice(m) for m in matches)
            )
        suggestions = tuple(
            choice(m) for m in _suggestion_matches(session, answer.resolution.suggestions)
        )
        return NoMatchView(
            query=answer.resolution.cleaned,
            suggestions=suggestions,
            too_long=MAX_QUERY_CHARS if answer.resolution.too_long else 0,
        )
    return result_view(session, answer, user)


def _suggestion_matches(session: Session, names: list[str]) -> list[Match]:
    out: list[Match] = []
    for name in names:
        found = ask(
            session, name, internal_leads=bot_settings.ALLOW_INTERNAL_LEADS.get()
        ).resolution.unique
        if found is not None:
            out.append(found)
    return out


def result_view(session: Session, answer: Answer, user: User | None) -> ResultView:
    look = lookup_views(session, answer, user)
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
        freshness=freshness_view(answer.freshness, answer.now),
    )


def answer_for(session: Session, kind: str, lead_id: int, user: User | None) -> Answer:
    """Re-rank a lead named by card data; Refusal when it doesn't exist or isn't a lead (a
    colleague, unless WHOKNOWS_ALLOW_INTERNAL_LEADS)."""
    internal = bot_settings.ALLOW_INTERNAL_LEADS.get()
    match = lead_by_id(session, kind, lead_id, internal_leads=internal)
    if match is None:
        raise Refusal(texts.LEAD_GONE)
    return ask(
        session,
        match.name,
        requester_email=user.email if user else None,
        choice=match,
        internal_leads=internal,
    )


def details(
    session: Session, kind: str, lead_id: int, colleague_id: int, user: User | None
) -> DetailsView:
    answer = answer_for(session, kind, lead_id, user)
    look = lookup_views(session, answer, user)
    found = next((c for c in look.colleagues if c.person_id == colleague_id), None)
    if found is None:
        raise Refusal(texts.NOT_A_CONNECTION)
    return DetailsView(
        lead=look.lead,
        colleague=found,
        today=look.today,
        freshness=freshness_view(answer.freshness, answer.now),
    )


def list_page(
    session: Session, kind: str, lead_id: int, page: int, user: User | None
) -> ListPageView:
    answer = answer_for(session, kind, lead_id, user)
    look = lookup_views(session, answer, user)
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
        freshness=freshness_view(answer.freshness, answer.now),
    )
