"""CRM leads and contacts (Dynamics 365 or CSV), linked to the person they describe."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from signals import db, headsup, privacy
from signals.addresses import domain_of, name_key, normalise_email
from signals.directory import name_company
from signals.merge import claim_address, merge_identities
from signals.models import Address, CrmRecord, Person


@dataclass
class CrmEntry:
    source: str  # "lead" or "contact"
    crm_id: str
    full_name: str
    emails: list[str]
    company_name: str | None = None
    topic: str | None = None
    phone: str | None = None
    owner_email: str | None = None
    owner_entra_id: str | None = None
    """The owning user's Entra object id (Dynamics 365 ``owninguser``), when known."""


def _person_for(session: Session, entry: CrmEntry, emails: list[str]) -> Person | None:
    """The contact this record describes; its addresses are merged into one identity."""
    if not emails:
        return None
    people = (
        session.scalars(
            select(Person)
            .join(Address, Address.person_id == Person.id)
            .where(Address.email.in_(emails))
        )
        .unique()
        .all()
    )
    person = people[0] if people else None
    if person is None:
        person = Person(
            internal=False,
            display_name=entry.full_name,
            name_key=name_key(entry.full_name),
            opted_out=False,
            is_list=False,
            is_shared=False,
            is_automated=False,
            enabled=True,
        )
        session.add(person)
        session.flush()
    for other in people[1:]:
        merge_identities(session, keep=person.id, drop=other.id)
    known = set(session.scalars(select(Address.email).where(Address.person_id == person.id)))
    for email in emails:
        if email not in known:
            claim_address(session, email, person.id)
    if entry.full_name:  # the CRM's spelling of the name wins over a header's
        person.display_name = entry.full_name
        person.name_key = name_key(entry.full_name)
    if entry.company_name and not person.internal:
        company = name_company(session, domain_of(emails[0]), entry.company_name)
        person.company_id = company.id
    return person


def _owner(session: Session, entry: CrmEntry, owner_email: str | None) -> int | None:
    """The colleague a record is assigned to: by Entra object id, else by e-mail."""
    if entry.owner_entra_id:
        found = session.scalar(
            select(Person.id).where(Person.entra_id == entry.owner_entra_id, Person.internal)
        )
        if found is not None:
            return found
    if owner_email:
        return session.scalar(
            select(Person.id)
            .join(Address, Address.person_id == Person.id)
            .where(Address.email == owner_email, Person.internal)
        )
    return None


def upsert_crm(session: Session, entry: CrmEntry, *, announce: bool = False) -> CrmRecord | None:
    """Store or update one CRM record; None when it describes someone whose data may
    not be stored (signals.privacy): then no copy of it is kept. With ``announce`` (a
    sync that has seen the CRM before), a lead newly assigned to a colleague claims its
    heads-up row in this same transaction."""
    emails = [e for e in (normalise_email(x) for x in entry.emails) if e]
    record = session.scalar(
        select(CrmRecord).where(CrmRecord.source == entry.source, CrmRecord.crm_id == entry.crm_id)
    )
    gate = privacy.read_gate(session.connection())
    if any(gate.never(email) for email in emails):
        if record is not None:
            session.delete(record)
            session.flush()
        return None
    if record is None:
        record = CrmRecord(source=entry.source, crm_id=entry.crm_id)
        session.add(record)
    record.full_name = entry.full_name
    record.name_key = name_key(entry.full_name)
    record.email = emails[0] if emails else None
    record.company_name = entry.company_name
    record.topic = entry.topic
    record.phone = entry.phone
    record.owner_email = normalise_email(entry.owner_email) if entry.owner_email else None
    previous_owner = record.owner_id
    record.owner_id = _owner(session, entry, record.owner_email)
    person = _person_for(session, entry, emails)
    record.person_id = person.id if person else None
    session.flush()
    if announce and record.source == "lead" and record.owner_id not in (None, previous_owner):
        headsup.claim(session, record.id, record.owner_id)
    return record


def upsert_crm_entries(engine: Engine, entries: Iterable[CrmEntry]) -> int:
    count = 0
    with db.transaction(engine) as session:
        for entry in entries:
            upsert_crm(session, entry)
            count += 1
    return count
