"""Colleagues from a directory (Entra ID via Graph, the demo, a CSV) and company names."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from signals import db
from signals.addresses import domain_of, is_shared_address, name_key, normalise_email
from signals.companies import company_name_from_domain
from signals.merge import claim_address, merge_identities
from signals.models import Address, Company, CompanyDomain, Person


@dataclass
class DirectoryPerson:
    """One colleague as a directory knows them; ``emails[0]`` is the primary address."""

    emails: list[str]
    display_name: str
    title: str | None = None
    department: str | None = None
    phone: str | None = None
    entra_id: str | None = None
    upn: str | None = None
    enabled: bool = True
    departed_at: datetime | None = None
    guest: bool = False
    is_shared: bool = False
    extra: dict[str, str] = field(default_factory=dict)


def _find_person(session: Session, entra_id: str | None, emails: list[str]) -> Person | None:
    if entra_id:
        found = session.scalar(select(Person).where(Person.entra_id == entra_id))
        if found is not None:
            return found
    if emails:
        return session.scalar(
            select(Person)
            .join(Address, Address.person_id == Person.id)
            .where(Address.email.in_(emails))
        )
    return None


def upsert_person(session: Session, entry: DirectoryPerson) -> Person:
    """Create or update a colleague; merges addresses the directory lists for them."""
    emails = [e for e in (normalise_email(x) for x in entry.emails) if e]
    person = _find_person(session, entry.entra_id, emails)
    if person is None:
        person = Person(internal=True, opted_out=False, is_list=False, is_automated=False)
        session.add(person)
    person.internal = True
    person.display_name = entry.display_name
    person.name_key = name_key(entry.display_name)
    person.title = entry.title
    person.department = entry.department
    person.phone = entry.phone
    person.entra_id = entry.entra_id or person.entra_id
    person.upn = entry.upn or person.upn or (emails[0] if emails else None)
    person.enabled = entry.enabled
    person.departed_at = entry.departed_at
    person.guest = entry.guest
    person.is_shared = entry.is_shared or any(is_shared_address(e) for e in emails[:1])
    session.flush()
    for email in emails:
        claim_address(session, email, person.id)
    session.flush()
    return person


def upsert_people(engine: Engine, entries: Iterable[DirectoryPerson]) -> int:
    count = 0
    with db.transaction(engine) as session:
        for entry in entries:
            upsert_person(session, entry)
            count += 1
    return count


def merge_people(session: Session, *, keep: int, drop: int) -> None:
    """Merge two identities (several addresses of one contact): aggregates add up."""
    merge_identities(session, keep=keep, drop=drop)


def name_company(session: Session, domain: str, name: str) -> Company:
    """Give the company behind a domain its proper name (creating it if needed)."""
    domain = domain.lower()
    link = session.get(CompanyDomain, domain)
    if link is None:
        company = Company(name=name, name_key=name_key(name))
        session.add(company)
        session.flush()
        session.add(CompanyDomain(domain=domain, company_id=company.id))
        session.flush()
        return company
    company = link.company
    company.name = name
    company.name_key = name_key(name)
    return company


def company_for_email(session: Session, email: str) -> Company | None:
    link = session.get(CompanyDomain, domain_of(email))
    return link.company if link else None


__all__ = [
    "DirectoryPerson",
    "company_for_email",
    "company_name_from_domain",
    "merge_people",
    "name_company",
    "upsert_people",
    "upsert_person",
]
