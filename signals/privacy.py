"""Whose data may be stored, and deleting what the store holds about a person.

One gate decides, for every writer (the importers, the Graph sync, the CRM sync,
identity merges, rebuilds, the demo), whether a person's data may be stored: never
once they opted out (or an administrator had them forgotten), and nothing dated
before the moment they opted back in. Each writer reads the gate in the transaction
that writes, after taking the gate's lock in shared mode; an opt-out takes it
exclusively. So an opt-out waits for the writes already under way, deletes what they
wrote, and every write after it sees the opt-out: a concurrent opt-out wins.

The lock: on PostgreSQL a transaction-scoped advisory lock; on SQLite, which has one
writer at a time, the gate starts the write transaction itself, so that nothing can
commit between reading the gate and writing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Result,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.orm import aliased

from signals.models import (
    Address,
    AuditEntry,
    CrmRecord,
    GraphItem,
    HeadsUp,
    Interaction,
    Introduction,
    NotifyPreference,
    PairStrength,
    Participant,
    Person,
    Role,
    SyncState,
    ThreadMember,
)
from signals.records import InteractionRecord

_LOCK_KEY = 0x77686F6B6E6F7773 >> 1  # "whoknows", as one advisory lock id
_SQLITE_WRITE = "UPDATE store_meta SET value = value WHERE key = 'privacy_gate'"
AUTHOR_ROLES = (Role.FROM.value, Role.SENDER.value, Role.ORGANIZER.value, Role.CALLER.value)


def never_stored() -> ColumnElement[bool]:
    """The people whose data is never stored, whatever its date: opted out in Teams,
    forgotten by an administrator, or a member of an excluded group. Every writer
    honours this one condition."""
    return Person.opted_out.is_(True) | Person.excluded.is_(True)


def hold(conn: Connection, *, exclusive: bool = False) -> None:
    """Take the gate's lock until the transaction ends: shared to write, exclusive to
    change who may be stored."""
    if conn.dialect.name == "postgresql":
        fn = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
        conn.exec_driver_sql(f"SELECT {fn}({_LOCK_KEY})")
    else:
        conn.exec_driver_sql(_SQLITE_WRITE)


# -- the gate ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Gate:
    """Who may not be stored: person id -> None (never) or the moment their data
    starts again (nothing dated before it). Everyone else may be."""

    limits: dict[int, datetime | None] = field(default_factory=dict)
    addresses: dict[str, int] = field(default_factory=dict)

    def allows(self, person_id: int, at: datetime) -> bool:
        if person_id not in self.limits:
            return True
        since = self.limits[person_id]
        return since is not None and at >= since

    def never(self, email: str) -> bool:
        """Whether nothing of this address's person may be stored, whatever its date."""
        person = self.addresses.get(email)
        return person is not None and self.limits[person] is None

    def allows_email(self, email: str, at: datetime) -> bool:
        person = self.addresses.get(email)
        return person is None or self.allows(person, at)

    def screen(
        self, records: Sequence[InteractionRecord], mailboxes: dict[str, str] | None = None
    ) -> tuple[list[InteractionRecord], list[str]]:
        """The records as they may be stored, and the source keys of those refused whole.

        A record read from a refused person's mailbox, or written by them, is refused;
        a refused recipient or attendee is left out of it, and a record left without
        anyone on the other side goes too."""
        if not self.limits:
            return list(records), []
        kept: list[InteractionRecord] = []
        refused: list[str] = []
        for rec in records:
            screened = self._screen(rec)
            if screened is None:
                refused.append(rec.source_key)
            else:
                kept.append(screened)
        return kept, refused

    def _screen(self, rec: InteractionRecord) -> InteractionRecord | None:
        at = rec.occurred_at
        ok = self.allows_email
        for one in (rec.author, rec.sent_by):
            if one is not None and not ok(one.email, at):
                return None
        if rec.mailbox and not ok(rec.mailbox, at):
            return None
        others = (rec.to, rec.cc, rec.bcc, rec.attendees)
        if all(ok(p.email, at) for group in others for p in group):
            return rec
        out = replace(
            rec,
            to=[p for p in rec.to if ok(p.email, at)],
            cc=[p for p in rec.cc if ok(p.email, at)],
            bcc=[p for p in rec.bcc if ok(p.email, at)],
            attendees=[a for a in rec.attendees if ok(a.email, at)],
        )
        if not (out.to or out.cc or out.bcc or out.attendees):
            return None
        return out


def read_gate(conn: Connection) -> Gate:
    """The gate as it stands, with its lock held (shared) until the transaction ends."""
    hold(conn)
    rows = conn.execute(
        select(Person.id, never_stored(), Person.stored_since, Address.email)
        .outerjoin(Address, Address.person_id == Person.id)
        .where(or_(never_stored(), Person.stored_since.is_not(None)))
    )
    limits: dict[int, datetime | None] = {}
    addresses: dict[str, int] = {}
    for pid, never, since, email in rows:
        limits[pid] = None if never else since
        if email is not None:
            addresses[email] = pid
    return Gate(limits, addresses)


# -- deletion ---------------------------------------------------------------------------


@dataclass
class Forgotten:
    """What a deletion removed, by kind (row counts)."""

    interactions: int = 0
    participations: int = 0
    connections: int = 0
    graph_items: int = 0
    sync_states: int = 0
    crm_records: int = 0


def _rowcount(result: Result[Any]) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def erase(conn: Connection, person_id: int) -> Forgotten:
    """Delete everything that came from or names this person, in the caller's transaction.

    Goes: the interactions they wrote, organised or called, and those read from their
    mailbox only; their place in everyone else's (and an interaction left with nobody
    on the other side); every connection score they are part of; thread memberships;
    the Graph item map and the sync state of their mailbox; CRM records linked to
    them. Stays: the person row (the marker that keeps them out), introductions and
    the audit log. Other people's scores that counted the deleted interactions are
    marked stale and recomputed (``signals.stale``).
    """
    from signals import stale
    from signals.rebuild import lock_aggregates

    hold(conn, exclusive=True)

    # Its marks and deletions touch the aggregate tables in another order than the
    # importer's: taking them all first keeps it from deadlocking with a writer.
    lock_aggregates(conn)
    out = Forgotten()
    took_part = list(
        conn.execute(
            select(Participant.interaction_id).where(Participant.person_id == person_id)
        ).scalars()
    )
    entra_id = conn.execute(select(Person.entra_id).where(Person.id == person_id)).scalar()
    mine = f"{entra_id}/%"
    from_mailbox: list[int] = []
    if entra_id:
        theirs = aliased(GraphItem)
        from_mailbox = [
            int(i)
            for i in conn.execute(
                select(GraphItem.interaction_id)
                .where(GraphItem.item_id.like(mine), GraphItem.interaction_id.is_not(None))
                .where(
                    ~exists().where(
                        theirs.interaction_id == GraphItem.interaction_id,
                        ~theirs.item_id.like(mine),
                    )
                )
            ).scalars()
            if i is not None
        ]
    stale.mark(conn, sorted({*took_part, *from_mailbox}))
    authored = select(Participant.interaction_id).where(
        Participant.person_id == person_id, Participant.role.in_(AUTHOR_ROLES)
    )
    out.interactions = _rowcount(
        conn.execute(delete(Interaction).where(Interaction.id.in_(authored)))
    )
    for part in _chunks(from_mailbox):
        out.interactions += _rowcount(
            conn.execute(delete(Interaction).where(Interaction.id.in_(part)))
        )
    out.participations = _rowcount(
        conn.execute(delete(Participant).where(Participant.person_id == person_id))
    )
    # What is left of theirs with nobody on the other side names only them.
    for part in _chunks(took_part):
        shared = (
            select(Participant.interaction_id)
            .where(Participant.interaction_id.in_(part))
            .group_by(Participant.interaction_id)
            .having(func.count(func.distinct(Participant.person_id)) > 1)
        )
        out.interactions += _rowcount(
            conn.execute(
                delete(Interaction).where(Interaction.id.in_(part), Interaction.id.not_in(shared))
            )
        )
    out.connections = _rowcount(
        conn.execute(
            delete(PairStrength).where(
                or_(PairStrength.introducer_id == person_id, PairStrength.lead_id == person_id)
            )
        )
    )
    conn.execute(delete(ThreadMember).where(ThreadMember.person_id == person_id))
    if entra_id:
        out.graph_items = _rowcount(
            conn.execute(delete(GraphItem).where(GraphItem.item_id.like(mine)))
        )
        out.sync_states = _rowcount(
            conn.execute(delete(SyncState).where(SyncState.scope == entra_id))
        )
    out.crm_records = _rowcount(
        conn.execute(delete(CrmRecord).where(CrmRecord.person_id == person_id))
    )
    conn.execute(update(Address).where(Address.person_id == person_id).values(sent_count=0))
    return out


def _chunks(ids: Sequence[int], size: int = 500) -> Iterable[list[int]]:
    for start in range(0, len(ids), size):
        yield list(ids[start : start + size])


def drop_mailbox_state(conn: Connection, entra_id: str) -> int:
    """After a sync of this mailbox: if its owner may not be stored (they opted out
    while it ran), delete the sync state and item map it left; returns rows deleted."""
    refused = conn.execute(
        select(Person.id).where(Person.entra_id == entra_id, never_stored())
    ).first()
    if refused is None:
        return 0
    hold(conn, exclusive=True)
    gone = _rowcount(conn.execute(delete(SyncState).where(SyncState.scope == entra_id)))
    gone += _rowcount(
        conn.execute(delete(GraphItem).where(GraphItem.item_id.like(f"{entra_id}/%")))
    )
    return gone


def opt_out(conn: Connection, person_id: int, *, now: datetime | None = None) -> Forgotten:
    """Stop storing this person's data and delete what is stored (one transaction)."""
    forgotten = erase(conn, person_id)
    conn.execute(
        update(Person)
        .where(Person.id == person_id)
        .values(
            opted_out=True,
            opted_out_at=now or datetime.now(UTC),
            stored_since=None,
            mailbox_analysed_at=None,
        )
    )
    return forgotten


def opt_in(conn: Connection, person_id: int, *, now: datetime | None = None) -> datetime:
    """Store this person's data again from now on (nothing dated before it); the moment."""
    hold(conn, exclusive=True)
    since = now or datetime.now(UTC)
    conn.execute(
        update(Person)
        .where(Person.id == person_id)
        .values(opted_out=False, opted_out_at=None, stored_since=since)
    )
    return since


def person_for_email(conn: Connection, email: str) -> int | None:
    found = conn.execute(select(Address.person_id).where(Address.email == email)).scalar()
    return int(found) if found is not None else None


def block_address(conn: Connection, email: str, *, internal: bool, name: str = "") -> int:
    """A person row for an address the store has never seen, so that an opt-out or a
    forget request holds for mail that arrives later; returns its id."""
    from signals.addresses import name_key

    pid = conn.execute(
        insert(Person)
        .values(
            internal=internal,
            display_name=name,
            name_key=name_key(name),
            enabled=True,
            opted_out=True,
            is_list=False,
            is_shared=False,
            is_automated=False,
        )
        .returning(Person.id)
    ).scalar_one()
    conn.execute(insert(Address).values(email=email, person_id=pid, sent_count=0))
    return int(pid)


def audit(conn: Connection, actor: str, action: str, subject: str = "", detail: str = "") -> None:
    conn.execute(
        insert(AuditEntry).values(
            at=datetime.now(UTC), actor=actor, action=action, subject=subject, detail=detail
        )
    )


def forgotten_detail(forgotten: Forgotten) -> str:
    return json.dumps(asdict(forgotten), sort_keys=True)


# -- coverage ---------------------------------------------------------------------------


def mark_mailboxes_read(
    conn: Connection, *, emails: Iterable[str] = (), entra_ids: Iterable[str] = (), at: datetime
) -> int:
    """Note that these people's own mailboxes were read (their sync ran, or an import
    found them to be a mailbox's owner): what "based on N of M mailboxes" counts.
    Never for someone whose data may not be stored."""
    wanted = or_(
        Person.id.in_(select(Address.person_id).where(Address.email.in_(sorted(set(emails))))),
        Person.entra_id.in_(sorted(set(entra_ids))),
    )
    result = conn.execute(
        update(Person)
        .where(wanted, Person.internal.is_(True), ~never_stored())
        .values(mailbox_analysed_at=at)
    )
    return _rowcount(result)


# -- export -----------------------------------------------------------------------------


def export(conn: Connection, person_id: int) -> dict[str, Any]:
    """What the store holds about a person: counts, dates, addresses and flags, never
    content (no subjects, no introduction notes)."""
    person = conn.execute(select(Person).where(Person.id == person_id)).one()
    addresses = list(
        conn.execute(
            select(Address.email).where(Address.person_id == person_id).order_by(Address.id)
        ).scalars()
    )
    kinds = dict(
        conn.execute(
            select(Interaction.kind, func.count(func.distinct(Interaction.id)))
            .join(Participant, Participant.interaction_id == Interaction.id)
            .where(Participant.person_id == person_id)
            .group_by(Interaction.kind)
        ).all()
    )
    first, last = conn.execute(
        select(func.min(Interaction.occurred_at), func.max(Interaction.occurred_at))
        .join(Participant, Participant.interaction_id == Interaction.id)
        .where(Participant.person_id == person_id)
    ).one()

    def count(*conditions: Any, table: Any) -> int:
        return int(conn.scalar(select(func.count()).select_from(table).where(*conditions)) or 0)

    entra = person.entra_id
    heads_up = conn.scalar(
        select(NotifyPreference.heads_up).where(NotifyPreference.person_id == person_id)
    )
    leads_crm = select(CrmRecord.id).where(CrmRecord.person_id == person_id)
    return {
        "person_id": person.id,
        "addresses": addresses,
        "display_name": person.display_name,
        "internal": person.internal,
        "flags": {
            "opted_out": person.opted_out,
            "enabled": person.enabled,
            "list": person.is_list,
            "shared": person.is_shared,
            "automated": person.is_automated,
            # Their own "notify on/off"; None: the administrator's default applies.
            "heads_up_choice": heads_up,
        },
        "dates": {
            "opted_out_at": _iso(person.opted_out_at),
            "stored_since": _iso(person.stored_since),
            "mailbox_analysed_at": _iso(person.mailbox_analysed_at),
            "departed_at": _iso(person.departed_at),
            "first_interaction": _iso(first),
            "last_interaction": _iso(last),
        },
        "counts": {
            "interactions": {kind: int(n) for kind, n in sorted(kinds.items())},
            "participations": count(Participant.person_id == person_id, table=Participant),
            "connections_as_introducer": count(
                PairStrength.introducer_id == person_id, table=PairStrength
            ),
            "connections_as_lead": count(PairStrength.lead_id == person_id, table=PairStrength),
            "introductions_requested": count(
                Introduction.requester_id == person_id, table=Introduction
            ),
            "introductions_asked_of": count(
                Introduction.introducer_id == person_id, table=Introduction
            ),
            "introductions_about": count(Introduction.lead_id == person_id, table=Introduction),
            "crm_records": count(CrmRecord.person_id == person_id, table=CrmRecord),
            "heads_ups_received": count(HeadsUp.owner_id == person_id, table=HeadsUp),
            "heads_ups_about": count(HeadsUp.crm_record_id.in_(leads_crm), table=HeadsUp),
            "graph_items": count(GraphItem.item_id.like(f"{entra}/%"), table=GraphItem)
            if entra
            else 0,
            "sync_states": count(SyncState.scope == entra, table=SyncState) if entra else 0,
            "audit_entries": count(
                or_(AuditEntry.actor.in_(addresses), AuditEntry.subject.in_(addresses)),
                table=AuditEntry,
            ),
        },
    }


def _iso(at: datetime | None) -> str | None:
    return at.astimezone(UTC).isoformat() if at is not None else None


# -- administrator requests -------------------------------------------------------------


@dataclass
class ForgetResult:
    person_id: int
    forgotten: Forgotten
    known: bool  # False: nothing was stored; the address is blocked from now on


def forget_address(
    conn: Connection, email: str, *, actor: str, internal: bool, now: datetime | None = None
) -> ForgetResult:
    """An administrator's erasure request (a leaver, a data subject): the same deletion
    as an opt-out, and the same block on anything later; audited by person id."""
    hold(conn, exclusive=True)
    person_id = person_for_email(conn, email)
    known = person_id is not None
    if person_id is None:
        person_id = block_address(conn, email, internal=internal)
    forgotten = opt_out(conn, person_id, now=now)
    audit(conn, actor, "privacy.forgotten", f"person:{person_id}", forgotten_detail(forgotten))
    return ForgetResult(person_id, forgotten, known)


# -- identity merges --------------------------------------------------------------------


def before_merge(conn: Connection, *, keep: int, drop: int) -> None:
    """Make a merge of ``drop`` into ``keep`` move no data the gate refuses.

    When either identity may not be stored (or only since a moment), the merged person
    takes the stricter limit, and ``drop``'s data is deleted rather than moved (as is
    ``keep``'s, when the limit is stricter than its own): an alias merged into someone
    who opted out brings nothing with it, and an opted-out alias's marker survives."""
    hold(conn)
    rows = {
        pid: (bool(never), since)
        for pid, never, since in conn.execute(
            select(Person.id, never_stored(), Person.stored_since).where(
                Person.id.in_([keep, drop])
            )
        )
    }
    keep_never, keep_since = rows.get(keep, (False, None))
    drop_never, drop_since = rows.get(drop, (False, None))
    if not (keep_never or drop_never or keep_since or drop_since):
        return
    erase(conn, drop)
    if keep_never:
        return
    if drop_never:
        opt_out(conn, keep)
        return
    since = max(s for s in (keep_since, drop_since) if s is not None)
    if keep_since is None or since > keep_since:
        erase(conn, keep)
        conn.execute(update(Person).where(Person.id == keep).values(stored_since=since))
