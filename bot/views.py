"""From scoring results and store rows to the cards' view models (no I/O of its own)."""

from __future__ import annotations

from datetime import date, datetime

from cards.views import (
    ColleagueView,
    CoverageView,
    EvidenceView,
    FreshnessView,
    LeadView,
    MatchChoice,
    PersonRef,
)
from scoring.answer import Answer
from scoring.freshness import Freshness
from scoring.ranking import Connection, Coverage, Evidence, RankedColleague
from scoring.resolve import Match
from signals.models import Person


def _day(value: datetime | None) -> date | None:
    return value.date() if value is not None else None


def evidence_view(e: Evidence, known: tuple[PersonRef, ...] = ()) -> EvidenceView:
    return EvidenceView(
        emails_to_lead=e.emails_to,
        emails_from_lead=e.emails_from,
        replies=e.replies_to + e.replies_from,
        meetings=e.meetings,
        calls=e.calls,
        chats=e.chats,
        last_two_way=_day(e.last_two_way),
        first_contact=_day(e.first_contact),
        last_contact=_day(e.last_contact),
        known_contacts=known,
        heard=e.heard,
        bulk=e.bulk,
        crowd=e.crowd,
        other_left_out=max(0, e.ignored - e.bulk - e.crowd),
    )


def freshness_view(f: Freshness | None, now: datetime) -> FreshnessView | None:
    if f is None:
        return None
    age = None if f.data_until is None else max(0, int((now - f.data_until).total_seconds() // 60))
    return FreshnessView(age_minutes=age, stale=f.stale, failing=f.failing)


def lead_view(match: Match, emails: list[str] | tuple[str, ...] = ()) -> LeadView:
    return LeadView(
        lead_id=match.id,
        name=match.name,
        company=match.company if match.kind == "person" else None,
        emails=tuple(emails) or ((match.email,) if match.email and match.kind == "person" else ()),
        topic=match.topic,
        is_company=match.kind == "company",
    )


def person_ref(person: Person, email: str | None) -> PersonRef:
    return PersonRef(
        name=person.display_name, email=email, person_id=person.id, upn=person.upn or email
    )


def colleague_view(
    c: RankedColleague,
    names: dict[int, str] | None = None,
    *,
    requested: bool = False,
) -> ColleagueView:
    known: tuple[PersonRef, ...] = ()
    if names is not None:
        known = tuple(
            PersonRef(name=names.get(k.lead_id, "?"), person_id=k.lead_id) for k in c.connections
        )
    return ColleagueView(
        person_id=c.person.id,
        name=c.person.display_name,
        email=c.email or "",
        tier=c.tier.value,
        score=round(c.score, 1),
        evidence=evidence_view(c.best.evidence, known),
        title=c.person.title,
        department=c.person.department,
        phone=c.person.phone,
        upn=c.person.upn or c.email,
        requested=requested,
    )


def coverage_view(cov: Coverage | None) -> CoverageView:
    if cov is None:
        return CoverageView(0, 0, 0)
    return CoverageView(cov.mailboxes_analysed, cov.mailboxes_total, cov.opted_out)


def choice(match: Match) -> MatchChoice:
    return MatchChoice(
        lead_id=match.id,
        name=match.name,
        company=match.company,
        email=match.email,
        is_company=match.kind == "company",
    )


def colleague_views(
    answer: Answer, names: dict[int, str] | None, requested: set[int]
) -> tuple[ColleagueView, ...]:
    return tuple(
        colleague_view(c, names, requested=c.person.id in requested) for c in answer.colleagues
    )


def connection_lead_ids(answer: Answer) -> set[int]:
    ids: set[int] = set()
    for c in answer.colleagues:
        ids.update(k.lead_id for k in c.connections)
    return ids


def best_connection_for(c: RankedColleague, lead_id: int | None) -> Connection:
    if lead_id is None:
        return c.best
    return next((k for k in c.connections if k.lead_id == lead_id), c.best)
