"""Writing interactions into the store, one transaction per batch.

Every source (files, Microsoft Graph, the demo generator) ends here. A batch
is written whole or not at all: people and addresses it mentions, the
interactions and their participants, thread membership and the per-pair
aggregates. Importing the same interaction twice adds nothing: the
``source_key`` is unique and a duplicate is counted, not written.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from operator import itemgetter
from typing import Any, TypeVar

from sqlalchemy import (
    Connection,
    Engine,
    Table,
    and_,
    bindparam,
    case,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import ColumnElement

from signals import settings
from signals.addresses import (
    DomainPolicy,
    domain_of,
    is_automated_address,
    is_shared_address,
    name_from_email,
    name_key,
)
from signals.aggregate import Aggregator, Event, PairDelta
from signals.companies import company_name_from_domain, is_public_domain
from signals.meta import StoreFacts, read_facts
from signals.models import (
    FEATURES,
    Address,
    Company,
    CompanyDomain,
    Interaction,
    Kind,
    PairStrength,
    Participant,
    Person,
    Response,
    Role,
    ThreadMember,
    UTCDateTime,
)
from signals.records import InteractionRecord

CHUNK = 500
T = TypeVar("T")


def chunks(items: Iterable[T], size: int = CHUNK) -> Iterator[list[T]]:
    it = iter(items)
    while batch := list(islice(it, size)):
        yield batch


@dataclass
class IngestStats:
    messages: int = 0
    new_interactions: int = 0
    duplicates: int = 0
    new_people: int = 0

    def add(self, other: IngestStats) -> None:
        self.messages += other.messages
        self.new_interactions += other.new_interactions
        self.duplicates += other.duplicates
        self.new_people += other.new_people


@dataclass(slots=True)
class Known:
    """What the writer remembers about an address between batches."""

    person_id: int
    internal: bool
    automated: bool


@dataclass
class _Batch:
    records: list[InteractionRecord]
    ids: dict[str, int] = field(default_factory=dict)  # source_key -> interaction id


def _insert_for(conn: Connection, table: Table) -> Any:
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)


def _later_of(current: ColumnElement[Any], incoming: ColumnElement[Any]) -> ColumnElement[Any]:
    return case(
        (incoming.is_(None), current),
        (current.is_(None), incoming),
        (incoming > current, incoming),
        else_=current,
    )


def _earlier_of(current: ColumnElement[Any], incoming: ColumnElement[Any]) -> ColumnElement[Any]:
    return case(
        (incoming.is_(None), current),
        (current.is_(None), incoming),
        (incoming < current, incoming),
        else_=current,
    )


def upsert_pairs(conn: Connection, pairs: dict[tuple[int, int], PairDelta]) -> None:
    """Add pair deltas to the stored aggregates (insert or add in place)."""
    if not pairs:
        return
    table = PairStrength.__table__
    assert isinstance(table, Table)
    stmt = _insert_for(conn, table)
    excluded = stmt.excluded
    set_: dict[str, Any] = {}
    for name in FEATURES:
        for prefix in ("d_", "n_"):
            col = prefix + name
            set_[col] = table.c[col] + excluded[col]
    set_["n_total"] = table.c.n_total + excluded.n_total
    set_["n_ignored"] = table.c.n_ignored + excluded.n_ignored
    set_["first_at"] = _earlier_of(table.c.first_at, excluded.first_at)
    for col in ("last_at", "last_out_at", "last_in_at", "last_mutual_at"):
        set_[col] = _later_of(table.c[col], excluded[col])
    stmt = stmt.on_conflict_do_update(index_elements=["introducer_id", "lead_id"], set_=set_)
    # Sorted, so that concurrent writers lock rows in the same order (no deadlocks).
    rows = [delta.row(i, lead) for (i, lead), delta in sorted(pairs.items())]
    for row in rows:
        row["feedback_factor"] = 1.0
    executemany_raw(conn, stmt, table, rows)


def executemany_raw(conn: Connection, stmt: Any, table: Table, rows: list[dict[str, Any]]) -> None:
    """Run an INSERT for many rows; on SQLite compiled once, plain tuples to the driver.

    On SQLite, SQLAlchemy's per-row parameter processing costs more than the
    database's own work for the big per-batch inserts (participants, pair
    aggregates): the statement is compiled once and only the UTC datetimes go
    through their bind processor, each distinct value once. On PostgreSQL,
    SQLAlchemy's batching into multi-row VALUES beats the driver's executemany.
    """
    if not rows:
        return
    dialect = conn.dialect
    if dialect.name != "sqlite":  # psycopg: SQLAlchemy's multi-row VALUES batching is faster
        for part in chunks(rows, 1000):
            conn.execute(stmt, part)
        return
    keys = list(rows[0])
    compiled = stmt.compile(dialect=dialect, column_keys=keys)
    processors: dict[str, Any] = {}
    for key in keys:
        proc = table.c[key].type.dialect_impl(dialect).bind_processor(dialect)
        if proc is not None and isinstance(table.c[key].type, UTCDateTime):
            processors[key] = proc
    if processors:
        done: dict[datetime, Any] = {}  # a batch has few distinct times: convert each once
        for key, proc in processors.items():
            for row in rows:
                value = row[key]
                if value is not None:
                    converted = done.get(value)
                    if converted is None:
                        converted = done[value] = proc(value)
                    row[key] = converted
    params: list[Any]
    if compiled.positional:
        order = compiled.positiontup or []
        if len(order) > 1:
            getter = itemgetter(*order)
            params = [getter(row) for row in rows]
        else:
            params = [tuple(row[k] for k in order) for row in rows]
    else:
        params = rows
    for part in chunks(params, 5000):
        conn.exec_driver_sql(compiled.string, part)


class Writer:
    """Writes batches of records; keeps an address cache across batches."""

    def __init__(
        self,
        engine: Engine,
        *,
        internal_domains: Sequence[str] | None = None,
        store_subjects: bool | None = None,
    ) -> None:
        self.engine = engine
        self.policy = DomainPolicy(None if internal_domains is None else tuple(internal_domains))
        self.store_subjects = (
            settings.STORE_SUBJECTS.get() if store_subjects is None else store_subjects
        )
        with engine.connect() as conn:
            self.facts: StoreFacts = read_facts(conn)
        self.known: dict[str, Known] = {}
        self.companies: dict[str, int | None] = {}

    # -- eligibility -----------------------------------------------------------------

    def _eligibility(self) -> tuple[Any, Any]:
        internal = {k.person_id for k in self.known.values() if k.internal}
        if self.facts.pair_mode == "all":
            return (lambda _pid: True), (lambda _pid: True)
        return (lambda pid: pid in internal), (lambda pid: pid not in internal)

    # -- people ----------------------------------------------------------------------

    def _company_id(self, conn: Connection, domain: str) -> int | None:
        if domain in self.companies:
            return self.companies[domain]
        if is_public_domain(domain):
            self.companies[domain] = None
            return None
        found = conn.execute(
            select(CompanyDomain.company_id).where(CompanyDomain.domain == domain)
        ).scalar()
        if found is None:
            name = company_name_from_domain(domain)
            found = conn.execute(
                insert(Company).values(name=name, name_key=name_key(name)).returning(Company.id)
            ).scalar_one()
            conn.execute(
                _insert_for(conn, CompanyDomain.__table__)  # type: ignore[arg-type]
                .values(domain=domain, company_id=found)
                .on_conflict_do_nothing()
            )
        self.companies[domain] = found
        return found

    def _resolve(self, conn: Connection, parties: dict[str, str]) -> int:
        """Make sure every address has a person; returns how many people were created."""
        missing = [e for e in parties if e not in self.known]
        for part in chunks(missing):
            rows = conn.execute(
                select(Address.email, Person.id, Person.internal, Person.is_automated)
                .join(Person, Person.id == Address.person_id)
                .where(Address.email.in_(part))
            )
            for email, pid, internal, automated in rows:
                self.known[email] = Known(pid, internal, automated)
        new = [e for e in missing if e not in self.known]
        if not new:
            return 0
        people: list[dict[str, Any]] = []
        for email in new:
            internal = self.policy.is_internal(email)
            name = parties[email] or name_from_email(email)
            people.append(
                {
                    "internal": internal,
                    "display_name": name,
                    "name_key": name_key(name),
                    "company_id": None if internal else self._company_id(conn, domain_of(email)),
                    "enabled": True,
                    "opted_out": False,
                    "is_list": False,
                    "is_shared": is_shared_address(email),
                    "is_automated": is_automated_address(email),
                }
            )
        # One multi-row insert each for people and addresses (not two round trips per address).
        ids: list[int] = []
        for people_part in chunks(people, 1000):
            ids.extend(
                conn.execute(
                    insert(Person).returning(Person.id, sort_by_parameter_order=True), people_part
                ).scalars()
            )
        added: set[str] = set()
        address_stmt = (
            _insert_for(conn, Address.__table__)  # type: ignore[arg-type]
            .on_conflict_do_nothing()
            .returning(Address.email)
        )
        address_rows = [
            {"email": e, "person_id": pid, "display_name": parties[e] or None, "sent_count": 0}
            for e, pid in zip(new, ids, strict=True)
        ]
        for address_part in chunks(address_rows, 1000):
            added.update(conn.execute(address_stmt, address_part).scalars())
        created = 0
        for email, pid, person in zip(new, ids, people, strict=True):
            if email in added:
                created += 1
                self.known[email] = Known(pid, person["internal"], person["is_automated"])
                continue
            # another writer created this address meanwhile: use its person
            conn.execute(delete(Person).where(Person.id == pid))
            row = conn.execute(
                select(Person.id, Person.internal, Person.is_automated)
                .join(Address, Address.person_id == Person.id)
                .where(Address.email == email)
            ).one()
            self.known[email] = Known(row[0], row[1], row[2])
        return created

    # -- batches ---------------------------------------------------------------------

    def write(self, records: Iterable[InteractionRecord]) -> IngestStats:
        """Write one batch in one transaction."""
        with self.engine.begin() as conn:
            return self.write_on(conn, records)

    def write_on(self, conn: Connection, records: Iterable[InteractionRecord]) -> IngestStats:
        """Write one batch inside the caller's transaction (e.g. with a sync page's link)."""
        batch = list(records)
        stats = IngestStats(messages=len(batch))
        if not batch:
            return stats
        try:
            self._write(conn, batch, stats)
        except BaseException:
            self.forget()
            raise
        return stats

    def forget(self) -> None:
        """Drop what was learnt in a transaction that is rolling back."""
        self.known.clear()
        self.companies.clear()

    def _write(self, conn: Connection, batch: list[InteractionRecord], stats: IngestStats) -> None:
        unique: dict[str, InteractionRecord] = {}
        for rec in batch:
            if rec.source_key in unique:
                stats.duplicates += 1
            else:
                unique[rec.source_key] = rec
        for part in chunks(list(unique)):
            for (key,) in conn.execute(
                select(Interaction.source_key).where(Interaction.source_key.in_(part))
            ):
                del unique[key]
                stats.duplicates += 1
        fresh = sorted(unique.values(), key=lambda r: r.occurred_at)
        if not fresh:
            return

        parties: dict[str, str] = {}
        for rec in fresh:
            for p in _all_parties(rec):
                if not parties.get(p.email):
                    parties[p.email] = p.name
        stats.new_people = self._resolve(conn, parties)

        rows = [
            {
                "kind": rec.kind.value,
                "source_key": rec.source_key,
                "occurred_at": rec.occurred_at,
                "thread_key": rec.thread_key,
                "parent_key": rec.parent_key,
                "recipient_count": _recipient_count(rec),
                "automated": rec.automated,
                "bulk": rec.bulk,
                "is_list": rec.is_list,
                "cancelled": rec.cancelled,
                "duration_seconds": rec.duration_seconds,
                "subject": rec.subject if self.store_subjects else None,
                "origin": rec.origin,
            }
            for rec in fresh
        ]
        ids: dict[str, int] = {}
        stmt = (
            _insert_for(conn, Interaction.__table__)  # type: ignore[arg-type]
            .on_conflict_do_nothing(index_elements=["source_key"])
            .returning(Interaction.id, Interaction.source_key)
        )
        for row_chunk in chunks(rows, 1000):
            for iid, key in conn.execute(stmt, row_chunk):
                ids[key] = iid
        fresh = [rec for rec in fresh if rec.source_key in ids]
        stats.duplicates += len(unique) - len(fresh)
        stats.new_interactions = len(fresh)

        participants: list[dict[str, Any]] = []
        for rec in fresh:
            participants.extend(self._participant_rows(ids[rec.source_key], rec))
        if participants:
            table = Participant.__table__
            assert isinstance(table, Table)
            executemany_raw(conn, insert(table), table, participants)

        self._aggregate(conn, fresh)
        self._mark_senders(conn, fresh)

    def _participant_rows(self, iid: int, rec: InteractionRecord) -> list[dict[str, Any]]:
        seen: set[tuple[int, str]] = set()
        out: list[dict[str, Any]] = []

        def add(email: str, role: Role, response: Response = Response.NONE) -> None:
            pid = self.known[email].person_id
            if (pid, role.value) in seen:
                return
            seen.add((pid, role.value))
            out.append(
                {
                    "interaction_id": iid,
                    "person_id": pid,
                    "role": role.value,
                    "response": response.value,
                }
            )

        if rec.author is not None:
            add(
                rec.author.email,
                Role.FROM if rec.kind == Kind.EMAIL else _lead_role(rec.kind),
                Response.ORGANIZER if rec.kind == Kind.MEETING else Response.NONE,
            )
        if rec.sent_by is not None:
            add(rec.sent_by.email, Role.SENDER)
        for p in rec.to:
            add(p.email, Role.TO)
        for p in rec.cc:
            add(p.email, Role.CC)
        for p in rec.bcc:
            add(p.email, Role.BCC)
        other = _other_role(rec.kind)
        for a in rec.attendees:
            add(a.email, other, a.response)
        return out

    def _event(self, rec: InteractionRecord, parent_author: int | None) -> Event:
        k = self.known
        author = k[rec.author.email] if rec.author else None
        return Event(
            kind=rec.kind,
            at=rec.occurred_at,
            author=author.person_id if author else None,
            to=tuple(k[p.email].person_id for p in rec.to),
            cc=tuple(k[p.email].person_id for p in [*rec.cc, *rec.bcc]),
            attendees=tuple((k[a.email].person_id, a.response) for a in rec.attendees),
            parent_author=parent_author,
            thread_key=rec.thread_key,
            ignored=rec.automated
            or rec.bulk
            or rec.is_list
            or (author is not None and author.automated),
            cancelled=rec.cancelled,
            duration_seconds=rec.duration_seconds,
        )

    def _aggregate(self, conn: Connection, fresh: list[InteractionRecord]) -> None:
        # Authors of the messages these reply to: from this batch, else from the store.
        authors: dict[str, int] = {
            rec.source_key: self.known[rec.author.email].person_id
            for rec in fresh
            if rec.kind == Kind.EMAIL and rec.author is not None
        }
        wanted = {r.parent_key for r in fresh if r.parent_key and r.parent_key not in authors}
        for part in chunks(sorted(wanted)):
            rows = conn.execute(
                select(Interaction.source_key, Participant.person_id)
                .join(Participant, Participant.interaction_id == Interaction.id)
                .where(and_(Interaction.source_key.in_(part), Participant.role == Role.FROM.value))
            )
            authors.update({key: pid for key, pid in rows})

        threads: dict[str, set[int]] = {}
        keys = sorted({r.thread_key for r in fresh if r.thread_key})
        for part in chunks(keys):
            for tkey, pid in conn.execute(
                select(ThreadMember.thread_key, ThreadMember.person_id).where(
                    ThreadMember.thread_key.in_(part)
                )
            ):
                threads.setdefault(tkey, set()).add(pid)

        is_introducer, is_lead = self._eligibility()
        agg = Aggregator(
            self.facts.clock,
            max_audience=self.facts.max_audience,
            is_introducer=is_introducer,
            is_lead=is_lead,
            thread_members=threads,
        )
        for rec in fresh:
            parent = authors.get(rec.parent_key) if rec.parent_key else None
            agg.add(self._event(rec, parent))
        if agg.new_thread_members:
            conn.execute(
                _insert_for(conn, ThreadMember.__table__).on_conflict_do_nothing(),  # type: ignore[arg-type]
                [{"thread_key": t, "person_id": p} for t, p in sorted(agg.new_thread_members)],
            )
        upsert_pairs(conn, agg.pairs)

    def _mark_senders(self, conn: Connection, fresh: list[InteractionRecord]) -> None:
        """Count what each address sent (list detection) and note analysed mailboxes."""
        sent: dict[str, int] = {}
        for rec in fresh:
            if rec.author is not None and rec.kind == Kind.EMAIL:
                sent[rec.author.email] = sent.get(rec.author.email, 0) + 1
        if sent:
            conn.execute(
                update(Address)
                .where(Address.email == bindparam("e"))
                .values(sent_count=Address.sent_count + bindparam("n")),
                [{"e": e, "n": n} for e, n in sent.items()],
            )
        owners = {
            self.known[e].person_id
            for e in {*(r.mailbox for r in fresh if r.mailbox), *sent}
            if e in self.known and self.known[e].internal
        }
        if owners:
            now = datetime.now(UTC)
            for part in chunks(sorted(owners)):
                conn.execute(
                    update(Person)
                    .where(Person.id.in_(part), Person.mailbox_analysed_at.is_(None))
                    .values(mailbox_analysed_at=now)
                )


def _all_parties(rec: InteractionRecord) -> Iterator[Any]:
    if rec.author is not None:
        yield rec.author
    if rec.sent_by is not None:
        yield rec.sent_by
    yield from rec.to
    yield from rec.cc
    yield from rec.bcc
    yield from rec.attendees


def _recipient_count(rec: InteractionRecord) -> int:
    if rec.kind == Kind.EMAIL:
        return len({p.email for p in [*rec.to, *rec.cc, *rec.bcc]})
    return len(rec.attendees)


def _lead_role(kind: Kind) -> Role:
    return {Kind.MEETING: Role.ORGANIZER, Kind.CALL: Role.CALLER}.get(kind, Role.MEMBER)


def _other_role(kind: Kind) -> Role:
    return {Kind.MEETING: Role.ATTENDEE, Kind.CALL: Role.CALLEE}.get(kind, Role.MEMBER)


def write_all(
    writer: Writer, records: Iterable[InteractionRecord], batch_size: int | None = None
) -> IngestStats:
    """Write records in batches of ``batch_size`` (one transaction each)."""
    total = IngestStats()
    for batch in chunks(records, batch_size or settings.BATCH_SIZE.get()):
        total.add(writer.write(batch))
    return total
