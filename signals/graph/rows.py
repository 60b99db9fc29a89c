"""What a page becomes, and how it is written: the plain functions of a sync's steps.

:mod:`signals.graph.sync` fetches pages and maps them to one of these rows; it writes
them with the functions here inside the page's transaction (with the page's link).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, select
from sqlalchemy.orm import Session

from signals import stale
from signals.crm import CrmEntry, upsert_crm
from signals.db import dialect_insert
from signals.directory import DirectoryPerson, upsert_person
from signals.graph import dataverse, leases, mapping
from signals.graph.client import Page
from signals.models import GraphItem, Interaction, Person
from signals.records import InteractionRecord, Party

MAILBOX = "mailbox"


@dataclass
class MessageRows:
    """A page of mail, events or calls: what to store, and what Graph removed."""

    records: list[InteractionRecord]
    item_keys: dict[str, str] = field(default_factory=dict)  # graph item -> source_key
    removed: list[str] = field(default_factory=list)  # graph items


@dataclass
class DirectoryRows:
    users: list[dict[str, Any]]


@dataclass
class CrmRows:
    entries: list[CrmEntry]
    announce: bool = False  # a lead newly assigned claims its heads-up (signals.headsup)


Rows = MessageRows | DirectoryRows | CrmRows


@dataclass
class Privacy:
    """Who must never be read or stored, as loaded at the start of a mailbox."""

    blocked_emails: set[str] = field(default_factory=set)
    blocked_ids: set[str] = field(default_factory=set)
    people: dict[str, Party] = field(default_factory=dict)  # entra id -> party
    domains: tuple[str, ...] = ()

    def keep(self, rec: InteractionRecord | None) -> InteractionRecord | None:
        """Drop opted-out and excluded colleagues from a record (or the whole record)."""
        if rec is None or not self.blocked_emails:
            return rec
        blocked = self.blocked_emails
        if rec.author is not None and rec.author.email in blocked:
            return None
        if rec.sent_by is not None and rec.sent_by.email in blocked:
            return None
        rec.to = [p for p in rec.to if p.email not in blocked]
        rec.cc = [p for p in rec.cc if p.email not in blocked]
        rec.bcc = [p for p in rec.bcc if p.email not in blocked]
        rec.attendees = [a for a in rec.attendees if a.email not in blocked]
        return rec


def directory_rows(page: Page) -> DirectoryRows:
    return DirectoryRows([u for u in page.items if u.get("id")])


def write_directory(conn: Connection, rows: DirectoryRows, now: datetime) -> int:
    """Upsert members, disable removed users and guests, create their mailbox rows."""
    count = 0
    session = Session(bind=conn)
    for user in rows.users:
        person = session.scalar(select(Person).where(Person.entra_id == str(user["id"])))
        guest = mapping.is_guest(user, person is not None and person.guest)
        if mapping.is_removed(user) or guest:
            if person is not None:
                person.enabled = False
                person.departed_at = person.departed_at or now
                person.guest = guest
            continue
        entry = mapping.directory_person(user)
        if person is not None:
            _keep_unsent(entry, user, person)
        upsert_person(session, entry)
        count += 1
    session.flush()
    scopes = [
        str(u["id"])
        for u in rows.users
        if not mapping.is_removed(u) and u.get("userType") != "Guest" and mapping.user_emails(u)
    ]
    leases.ensure_rows(conn, MAILBOX, scopes)
    return count


def crm_rows(entity: str, announce: bool, page: Page) -> CrmRows:
    entries = [e for e in (dataverse.crm_entry(entity, row) for row in page.items) if e]
    return CrmRows(entries, announce)


def write_crm(conn: Connection, rows: CrmRows) -> int:
    session = Session(bind=conn)
    for entry in rows.entries:
        upsert_crm(session, entry, announce=rows.announce)
    session.flush()
    return len(rows.entries)


def _keep_unsent(entry: DirectoryPerson, user: dict[str, Any], person: Person) -> None:
    """A delta update may carry only the changed properties: keep the stored ones."""
    if "displayName" not in user:
        entry.display_name = person.display_name
    if "jobTitle" not in user:
        entry.title = person.title
    if "department" not in user:
        entry.department = person.department
    if "businessPhones" not in user and "mobilePhone" not in user:
        entry.phone = person.phone
    if "accountEnabled" not in user:
        entry.enabled = person.enabled
    if "userPrincipalName" not in user:
        entry.upn = person.upn


def map_items(conn: Connection, keys: dict[str, str], known: dict[str, int] | None = None) -> None:
    """Remember which interaction each Graph item became (for @removed). ``known``:
    ids of interactions the caller just stored (source key -> id), not looked up."""
    if not keys:
        return
    ids = dict(known or {})
    wanted = sorted({key for key in keys.values() if key not in ids})
    if wanted:
        ids.update(
            conn.execute(
                select(Interaction.source_key, Interaction.id).where(
                    Interaction.source_key.in_(wanted)
                )
            ).all()
        )
    rows = [
        {"item_id": item, "interaction_id": ids[key]} for item, key in keys.items() if key in ids
    ]
    if rows:
        stmt = dialect_insert(conn, GraphItem)
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["item_id"], set_={"interaction_id": stmt.excluded.interaction_id}
            ),
            rows,
        )


def remove_items(conn: Connection, item_keys: Iterable[str]) -> int:
    """Forget removed items; delete their interaction when no mailbox holds it any more."""
    keys = sorted(set(item_keys))
    if not keys:
        return 0
    targets: set[int] = {
        int(i)
        for i in conn.execute(
            select(GraphItem.interaction_id).where(
                GraphItem.item_id.in_(keys), GraphItem.interaction_id.is_not(None)
            )
        ).scalars()
        if i is not None
    }
    conn.execute(delete(GraphItem).where(GraphItem.item_id.in_(keys)))
    if not targets:
        return 0
    still_held = set(
        conn.execute(
            select(GraphItem.interaction_id).where(GraphItem.interaction_id.in_(sorted(targets)))
        ).scalars()
    )
    gone = sorted(targets - still_held)
    if gone:
        stale.mark(conn, gone)  # while their participants are still stored
        conn.execute(delete(Interaction).where(Interaction.id.in_(gone)))
    return len(gone)
