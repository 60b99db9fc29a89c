"""Resolving what the user typed into a lead: an e-mail, a name, a company or a CRM lead.

Names are compared by ``signals.addresses.name_key`` (case, accents and spacing
ignored); small typos are forgiven; a first name alone is enough when it is
unique. Several matches come back as a choice; no match comes back with the
closest names as suggestions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from difflib import SequenceMatcher

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from signals.addresses import name_key, normalise_email
from signals.models import Address, Company, CompanyDomain, CrmRecord, Person

_PREFIX = re.compile(
    r"^\s*(?:@?\w+\s+)?(?:who\s+knows|whoknows)\b[\s:,-]*"
    r"(?:(?:any(?:one|body)|some(?:one|body)|people)\s+(?:at|from|in)\s+)?",
    re.IGNORECASE,
)
_DOMAIN = re.compile(r"^(?:[a-z0-9-]+\.)+[a-z]{2,}$")
MAX_CHOICES = 8
# A lead is a name, an address or a company: what is longer is no lead, and comparing it
# against thousands of names would cost time quadratic in its length.
MAX_QUERY_CHARS = 200
MAX_FUZZY_TOKENS = 6  # words of a name compared (two LIKE clauses each)
ACCEPT = 0.86
CONSIDER = 0.72
SUGGEST = 0.5


@dataclass(frozen=True)
class Match:
    """A lead the query may mean: a person (external contact) or a whole company."""

    kind: str  # "person" or "company"
    id: int
    name: str
    company: str | None = None
    email: str | None = None
    topic: str | None = None
    crm_id: str | None = None


@dataclass
class Resolution:
    query: str
    cleaned: str
    matches: list[Match] = field(default_factory=list)
    suggestions: list[str] = field(default_factory=list)
    too_long: bool = False  # over MAX_QUERY_CHARS: not looked up

    @property
    def unique(self) -> Match | None:
        return self.matches[0] if len(self.matches) == 1 else None


def clean_query(text: str) -> str:
    """'@WhoKnows who knows Yvonne McKay?' -> 'Yvonne McKay'."""
    text = re.sub(r"<at>.*?</at>", " ", text, flags=re.IGNORECASE)
    text = _PREFIX.sub("", text.strip())
    return text.strip().strip("?!.,;:\"'“”").strip()


class Resolver:
    """Looks leads up in one session. ``leads_internal`` admits colleagues as leads
    (a store built in "all" pair mode, where everyone is both)."""

    def __init__(self, session: Session, *, leads_internal: bool = False) -> None:
        self.session = session
        self.leads_internal = leads_internal

    def _lead_filter(self) -> list[object]:
        conds: list[object] = [~Person.is_list, ~Person.is_automated]
        if not self.leads_internal:
            conds.append(~Person.internal)
        return conds

    def may_lead(self, person: Person) -> bool:
        """The lead filter for one person found another way (card data, a CRM record)."""
        if person.is_list or person.is_automated:
            return False
        return self.leads_internal or not person.internal

    def resolve(self, text: str) -> Resolution:
        if len(text) > 4 * MAX_QUERY_CHARS:  # before any regex runs over it
            return Resolution(query=text, cleaned=text[:MAX_QUERY_CHARS], too_long=True)
        cleaned = clean_query(text)
        res = Resolution(query=text, cleaned=cleaned)
        if not cleaned:
            return res
        if len(cleaned) > MAX_QUERY_CHARS:
            res.cleaned, res.too_long = cleaned[:MAX_QUERY_CHARS], True
            return res
        lowered = cleaned.lower()
        if "@" in lowered:
            email = normalise_email(lowered)
            if email:
                res.matches = self._by_email(email)
                if not res.matches:
                    res.matches = self._company_by_domain(email.rsplit("@", 1)[1])
            return res
        if _DOMAIN.match(lowered):
            res.matches = self._company_by_domain(lowered)
            if res.matches:
                return res
        key = name_key(cleaned)
        if not key:
            return res
        people = self._people_exact(key)
        companies = self._companies_exact(key)
        if people or companies:
            res.matches = (people + companies)[:MAX_CHOICES]
            return res
        if " " not in key:
            res.matches = self._first_name(key)
            if res.matches:
                return res
        accepted, suggestions = self._fuzzy(key)
        res.matches = accepted
        res.suggestions = suggestions
        return res

    # -- lookups ---------------------------------------------------------------------

    def _person_match(self, person: Person) -> Match:
        email = self.session.scalar(
            select(Address.email)
            .where(Address.person_id == person.id)
            .order_by(Address.id)
            .limit(1)
        )
        crm = self.session.scalar(
            select(CrmRecord)
            .where(CrmRecord.person_id == person.id)
            .order_by(CrmRecord.source.desc(), CrmRecord.id)
            .limit(1)
        )
        company = person.company.name if person.company else (crm.company_name if crm else None)
        return Match(
            kind="person",
            id=person.id,
            name=person.display_name,
            company=company,
            email=email,
            topic=crm.topic if crm else None,
            crm_id=crm.crm_id if crm else None,
        )

    def _company_match(self, company: Company) -> Match:
        domain = self.session.scalar(
            select(CompanyDomain.domain).where(CompanyDomain.company_id == company.id).limit(1)
        )
        return Match(kind="company", id=company.id, name=company.name, email=domain)

    def _by_email(self, email: str) -> list[Match]:
        person = self.session.scalar(
            select(Person)
            .join(Address, Address.person_id == Person.id)
            .where(Address.email == email, *self._lead_filter())  # type: ignore[arg-type]
        )
        if person is None:
            crm = self.session.scalar(select(CrmRecord).where(CrmRecord.email == email).limit(1))
            if crm is not None and crm.person_id is not None:
                person = self.session.get(Person, crm.person_id)
        ok = person is not None and self.may_lead(person)
        return [self._person_match(person)] if person is not None and ok else []

    def _company_by_domain(self, domain: str) -> list[Match]:
        company = self.session.scalar(
            select(Company)
            .join(CompanyDomain, CompanyDomain.company_id == Company.id)
            .where(CompanyDomain.domain == domain)
        )
        return [self._company_match(company)] if company is not None else []

    def _people(self, *conds: object, limit: int = MAX_CHOICES + 1) -> list[Person]:
        return list(
            self.session.scalars(
                select(Person)
                .where(*conds, *self._lead_filter())  # type: ignore[arg-type]
                .order_by(Person.id)
                .limit(limit)
            )
        )

    def _people_exact(self, key: str) -> list[Match]:
        found = self._people(Person.name_key == key)
        crm_people = self.session.scalars(
            select(CrmRecord.person_id).where(
                CrmRecord.name_key == key, CrmRecord.person_id.is_not(None)
            )
        ).all()
        seen = {p.id for p in found}
        for pid in crm_people:
            if pid is not None and pid not in seen:
                person = self.session.get(Person, pid)
                if person is not None and self.may_lead(person):
                    found.append(person)
                    seen.add(pid)
        return [self._person_match(p) for p in found[:MAX_CHOICES]]

    def _companies_exact(self, key: str) -> list[Match]:
        companies = self.session.scalars(
            select(Company).where(Company.name_key == key).order_by(Company.id).limit(3)
        ).all()
        return [self._company_match(c) for c in companies]

    def _first_name(self, token: str) -> list[Match]:
        return [self._person_match(p) for p in self._people(Person.name_key.like(f"{token} %"))]

    def _fuzzy(self, key: str) -> tuple[list[Match], list[str]]:
        """Names close to the query: accepted when one is clearly best, else suggestions."""
        tokens = list(dict.fromkeys(t for t in key.split() if len(t) >= 2))[:MAX_FUZZY_TOKENS]
        like = [Person.name_key.like(f"{t[:2]}%") for t in tokens]
        like += [Person.name_key.like(f"% {t[:2]}%") for t in tokens]
        people = self._people(or_(*like), limit=5000) if like else []
        scored: list[tuple[float, Match | Person | Company]] = []
        for person in people:
            scored.append((_similarity(key, person.name_key), person))
        companies = self.session.scalars(
            select(Company)
            .where(
                or_(*[Company.name_key.like(f"{t[:2]}%") for t in tokens])
                if tokens
                else and_(Company.id < 0)
            )
            .limit(2000)
        ).all()
        for company in companies:
            scored.append((_similarity(key, company.name_key), company))
        scored.sort(key=lambda item: -item[0])
        if not scored:
            return [], self._any_suggestions(key)
        best = scored[0][0]
        if best >= ACCEPT and (len(scored) == 1 or scored[1][0] < best - 0.04):
            return [self._to_match(scored[0][1])], []
        close = [item for item in scored if item[0] >= CONSIDER][:MAX_CHOICES]
        if close:
            return [self._to_match(item[1]) for item in close], []
        names = [self._display(item[1]) for item in scored if item[0] >= SUGGEST][:3]
        return [], names

    def _any_suggestions(self, key: str) -> list[str]:
        total = self.session.scalar(select(func.count()).select_from(Person)) or 0
        if total > 20000:
            return []
        people = self._people(Person.name_key != "", limit=20000)
        ranked = sorted(people, key=lambda p: -_similarity(key, p.name_key))
        return [p.display_name for p in ranked[:3] if _similarity(key, p.name_key) >= SUGGEST]

    def _to_match(self, item: Match | Person | Company) -> Match:
        if isinstance(item, Person):
            return self._person_match(item)
        if isinstance(item, Company):
            return self._company_match(item)
        return item

    @staticmethod
    def _display(item: Match | Person | Company) -> str:
        if isinstance(item, Person):
            return item.display_name
        return item.name


def _similarity(a: str, b: str) -> float:
    """Similarity of two name keys, also trying the other's word order."""
    direct = SequenceMatcher(None, a, b).ratio()
    swapped = " ".join(reversed(b.split()))
    return max(direct, SequenceMatcher(None, a, swapped).ratio())
