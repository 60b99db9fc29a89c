"""The answer to "who knows X": the one code path the bot, the CLI and the evaluation share."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from scoring.freshness import Freshness, freshness
from scoring.ranking import (
    Coverage,
    Evidence,
    RankedColleague,
    coverage,
    rank,
    requester_id_for,
)
from scoring.resolve import Match, Resolution, Resolver
from scoring.strength import Weights
from signals.meta import read_facts
from signals.models import Address, Company, Person


@dataclass
class Answer:
    query: str
    resolution: Resolution
    lead: Match | None
    colleagues: list[RankedColleague] = field(default_factory=list)
    requester: RankedColleague | None = None
    coverage: Coverage | None = None
    freshness: Freshness | None = None
    lead_emails: list[str] = field(default_factory=list)
    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def total(self) -> int:
        return len(self.colleagues)

    @property
    def is_company(self) -> bool:
        return self.lead is not None and self.lead.kind == "company"

    def to_json(self, limit: int | None) -> dict[str, Any]:
        """The shape `whoknows ask --json` prints (documented in docs/cli.md)."""
        shown = self.colleagues if limit is None else self.colleagues[:limit]
        lead = None
        if self.lead is not None:
            lead = {
                "kind": self.lead.kind,
                "name": self.lead.name,
                "emails": self.lead_emails,
                "company": self.lead.company if self.lead.kind == "person" else self.lead.name,
                "topic": self.lead.topic,
                "crm_id": self.lead.crm_id,
            }
        return {
            "query": self.query,
            "lead": lead,
            "matches": [
                {"kind": m.kind, "id": m.id, "name": m.name, "company": m.company, "email": m.email}
                for m in self.resolution.matches
            ]
            if len(self.resolution.matches) != 1
            else [],
            "suggestions": self.resolution.suggestions,
            "colleagues": [colleague_json(c, self.is_company) for c in shown],
            "total": self.total,
            "requester_knows_lead": colleague_json(self.requester, self.is_company)
            if self.requester
            else None,
            "coverage": None
            if self.coverage is None
            else {
                "mailboxes_analysed": self.coverage.mailboxes_analysed,
                "mailboxes_total": self.coverage.mailboxes_total,
                "opted_out": self.coverage.opted_out,
            },
            "freshness": None if self.freshness is None else self.freshness.to_json(self.now),
        }


def _iso(value: datetime | None) -> str | None:
    return value.date().isoformat() if value else None


def evidence_json(e: Evidence) -> dict[str, Any]:
    return {
        "emails_to_lead": e.emails_to,
        "emails_from_lead": e.emails_from,
        "replies_to_lead": e.replies_to,
        "replies_from_lead": e.replies_from,
        "meetings": e.meetings,
        "calls": e.calls,
        "chats": e.chats,
        "first_contact": _iso(e.first_contact),
        "last_contact": _iso(e.last_contact),
        "last_two_way_contact": _iso(e.last_two_way),
        "heard_from_lead": e.heard,
        "not_counted": {
            "bulk_or_list": e.bulk,
            "crowd": e.crowd,
            "other": e.ignored - e.bulk - e.crowd,
        },
    }


def colleague_json(c: RankedColleague, company: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": c.person.id,
        "name": c.person.display_name,
        "email": c.email,
        "title": c.person.title,
        "department": c.person.department,
        "tier": c.tier.value,
        "score": round(c.score, 2),
        "reciprocity": round(c.best.strength.reciprocity, 2),
        "evidence": evidence_json(c.best.evidence),
    }
    if company:
        out["knows"] = [
            {"lead_id": k.lead_id, "tier": k.strength.tier.value, "score": round(k.score, 2)}
            for k in c.connections
        ]
    return out


def lead_ids_for(session: Session, match: Match, *, leads_internal: bool = False) -> list[int]:
    if match.kind == "person":
        return [match.id]
    query = select(Person.id).where(
        Person.company_id == match.id, ~Person.is_list, ~Person.is_automated
    )
    if not leads_internal:
        query = query.where(~Person.internal)
    return list(session.scalars(query))


def ask(
    session: Session,
    text: str,
    *,
    requester_email: str | None = None,
    now: datetime | None = None,
    choice: Match | None = None,
    weights: Weights | None = None,
    internal_leads: bool | None = None,
) -> Answer:
    """Resolve ``text`` and, when it names one lead, rank who knows them.

    ``internal_leads`` admits colleagues as leads; None: as the store's pair mode says
    (the CLI and the evaluation). The bot passes its setting, off by default."""
    now = now or datetime.now(UTC)
    facts = read_facts(session)
    leads_internal = facts.pair_mode == "all" if internal_leads is None else internal_leads
    resolution = Resolver(session, leads_internal=leads_internal).resolve(text)
    lead = choice or resolution.unique
    answer = Answer(query=text, resolution=resolution, lead=lead, now=now)
    answer.coverage = coverage(session)
    if lead is None:
        return answer
    answer.freshness = freshness(session, now)
    ids = lead_ids_for(session, lead, leads_internal=leads_internal)
    answer.lead_emails = (
        list(
            session.scalars(
                select(Address.email).where(Address.person_id == lead.id).order_by(Address.id)
            )
        )
        if lead.kind == "person"
        else []
    )
    answer.colleagues, answer.requester = rank(
        session,
        ids,
        now=now,
        requester_id=requester_id_for(session, requester_email),
        weights=weights,
        facts=facts,
    )
    return answer


def lead_by_id(
    session: Session, kind: str, lead_id: int, *, internal_leads: bool = False
) -> Match | None:
    """Re-resolve a lead from ids in card data (never trusted): it must exist and be a lead,
    an external person (a colleague only with ``internal_leads``) or a company; never a
    list or an automated sender."""
    resolver = Resolver(session, leads_internal=internal_leads)
    if kind == "company":
        company = session.get(Company, lead_id)
        return resolver._company_match(company) if company else None
    person = session.get(Person, lead_id)
    if person is None or not resolver.may_lead(person):
        return None
    return resolver._person_match(person)
