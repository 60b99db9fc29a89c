"""Writing interactions into the store, one transaction per batch.

Every source (files, Microsoft Graph, the demo generator) ends here. A batch
is written whole or not at all: people and addresses it mentions, the
interactions and their participants, thread membership and the per-pair
aggregates. Importing the same interaction twice adds nothing: the
``source_key`` is unique and a duplicate is counted, not written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from time import perf_counter
from typing import Any, TypeVar, cast

from sqlalchemy import (
    ARRAY,
    Column,
    Connection,
    Engine,
    MetaData,
    Select,
    String,
    Table,
    any_,
    bindparam,
    case,
    delete,
    func,
    insert,
    literal,
    select,
    update,
)

from signals import privacy, settings
from signals.addresses import (
    DomainPolicy,
    domain_of,
    is_automated_address,
    is_shared_address,
    name_from_email,
    name_key,
)
from signals.aggregate import (
    PAIR_COLUMNS,
    PAIR_TIME_COLUMNS,
    Aggregator,
    Event,
    PairDelta,
    author_automated,
)
from signals.companies import company_name_from_domain, is_public_domain
from signals.db import dialect_insert
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
    aware_utc,
    sqlite_time,
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
    # Source keys of new messages that landed late (see Writer.write_on's find_late).
    late: list[str] = field(default_factory=list)
    # Source keys of records the privacy gate refused whole (signals.privacy).
    refused: list[str] = field(default_factory=list)
    # The interactions this batch stored, source key -> id (one batch's; :meth:`add`
    # leaves them out): the sync maps Graph items to them and tells which of the pages
    # written together stored what.
    stored: dict[str, int] = field(default_factory=dict)

    def add(self, other: IngestStats) -> None:
        self.messages += other.messages
        self.new_interactions += other.new_interactions
        self.duplicates += other.duplicates
        self.new_people += other.new_people
        self.late += other.late
        self.refused += other.refused


@dataclass(slots=True)
class Known:
    """What the writer remembers about an address between batches."""

    person_id: int
    internal: bool
    automated: bool


@dataclass
class _Batch:
    """What ``_write`` hands to ``_aggregate`` beyond ``(conn, fresh)``."""

    sql: _Sql
    events: list[Event]  # one per fresh record, in the same order


# The columns of the Writer's interaction rows, in order.
INTERACTION_COLUMNS = (
    "kind",
    "source_key",
    "occurred_at",
    "thread_key",
    "parent_key",
    "recipient_count",
    "automated",
    "bulk",
    "is_list",
    "cancelled",
    "duration_seconds",
    "subject",
    "origin",
)
_INTERACTIONS = Interaction.__table__.c
_PARTICIPANTS = Participant.__table__.c
_PAIRS = PairStrength.__table__.c
# PostgreSQL: the pair deltas of a batch, copied in before one upsert (_PostgresSql).
_PAIR_DELTAS = Table(
    "whoknows_pair_delta",
    MetaData(),
    *(Column(c.name, c.type) for c in PairStrength.__table__.c),
    schema="pg_temp",
)
_PAIR_TYPES = (
    ["int4", "int4"]
    + ["float8"] * len(FEATURES)
    + ["int4"] * (len(FEATURES) + 2)
    + ["float8", "int4", "int4"]  # d_ignored, n_bulk, n_crowd
    + ["timestamptz"] * len(PAIR_TIME_COLUMNS)
    + ["float8"]  # feedback_factor
)
# A full rebuild's pair deltas on their way to ``pair_strength`` (see ``spill_pairs``):
# a temporary table with the pair table's columns and no key, so that one pair may
# come several times. Unqualified: a temporary table is found before a stored one.
_SPILL = Table(
    "whoknows_pair_spill", MetaData(), *(Column(c.name, c.type) for c in PairStrength.__table__.c)
)
# PostgreSQL types of INTERACTION_COLUMNS, for their arrays.
_INTERACTION_TYPES = (
    "varchar",
    "varchar",
    "timestamptz",
    "varchar",
    "varchar",
    "int4",
    "bool",
    "bool",
    "bool",
    "bool",
    "int4",
    "text",
    "varchar",
)
IN_CHUNK = 500  # keys per ``IN`` list
# The author of a stored e-mail, looked up per key through the unique and primary-key
# indexes whatever the planner believes about table sizes (during a big import it has
# no statistics).
_AUTHOR = (
    select(_PARTICIPANTS.person_id)
    .where(_PARTICIPANTS.interaction_id == _INTERACTIONS.id, _PARTICIPANTS.role == Role.FROM.value)
    .limit(1)
    .scalar_subquery()
)


def _reads(keys: Callable[[Any], Any]) -> dict[str, Select[Any]]:
    """The writer's lookups by key, with ``keys(column)`` as the condition on the key."""
    i = _INTERACTIONS
    return {
        "existing_keys": select(i.source_key).where(keys(i.source_key)),
        "parent_authors": select(i.source_key, _AUTHOR, i.occurred_at, i.id).where(
            keys(i.source_key)
        ),
        "thread_latest": select(i.thread_key, func.max(i.occurred_at))
        .where(keys(i.thread_key))
        .group_by(i.thread_key),
        "replied_to": select(i.parent_key).distinct().where(keys(i.parent_key)),
        "thread_members": select(ThreadMember.thread_key, ThreadMember.person_id).where(
            keys(ThreadMember.thread_key)
        ),
    }


_IN_LIST = _reads(lambda column: column.in_(bindparam("keys", expanding=True)))
_ANY_OF = _reads(lambda column: column == any_(bindparam("keys", type_=ARRAY(String))))
_ADD_SENT = (
    update(Address)
    .where(Address.email == bindparam("address"))
    .values(sent_count=Address.sent_count + bindparam("sent"))
)


def _earlier(stored: Any, new: Any) -> Any:
    return case((new.is_(None), stored), (stored.is_(None), new), (new < stored, new), else_=stored)


def _later(stored: Any, new: Any) -> Any:
    return case((new.is_(None), stored), (stored.is_(None), new), (new > stored, new), else_=stored)


def _pair_upsert(conn: Connection, deltas: Select[Any] | None = None) -> Any:
    """Adding a delta to a stored aggregate: sums and counts add, times keep the extreme.
    The deltas are the statement's parameters, or the rows of ``deltas``."""
    stmt = dialect_insert(conn, PairStrength)
    if deltas is not None:
        stmt = stmt.from_select([*PAIR_COLUMNS, "feedback_factor"], deltas)
    new = stmt.excluded
    added = {c: _PAIRS[c] + new[c] for c in PAIR_COLUMNS[2:-5]}
    added["first_at"] = _earlier(_PAIRS.first_at, new.first_at)
    added.update((c, _later(_PAIRS[c], new[c])) for c in PAIR_TIME_COLUMNS[1:])
    return stmt.on_conflict_do_update(
        index_elements=[_PAIRS.lead_id, _PAIRS.introducer_id], set_=added
    )


class _Sql:
    """The writer's reads and bulk writes for one batch, on its connection.

    Reads look keys up in ``IN`` lists of at most :data:`IN_CHUNK`; writes go as one
    ``executemany`` each (SQLAlchemy's "insertmanyvalues" batches them into multi-row
    statements where the driver would go row by row).
    """

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def _select_in(self, read: str, keys: Sequence[str]) -> list[Any]:
        """Rows of the lookup ``read`` (see :func:`_reads`) for these keys."""
        out: list[Any] = []
        for part in chunks(keys, IN_CHUNK):
            out.extend(self.conn.execute(_IN_LIST[read], {"keys": part}))
        return out

    def existing_keys(self, keys: Sequence[str]) -> list[str]:
        return [k for (k,) in self._select_in("existing_keys", keys)]

    def parent_authors(self, keys: Sequence[str]) -> list[tuple[str, int, datetime, int]]:
        """(key, author, time, id) of the stored e-mails among these keys: the messages
        replies point to."""
        rows = self._select_in("parent_authors", keys)
        return [(k, p, _aware(at), i) for k, p, at, i in rows if p is not None]

    def thread_latest(self, keys: Sequence[str]) -> list[tuple[str, datetime]]:
        """The time of the latest stored message of each of these threads."""
        rows = self._select_in("thread_latest", keys)
        return [(k, _aware(at)) for k, at in rows if at is not None]

    def replied_to(self, keys: Sequence[str]) -> list[str]:
        """Which of these messages a stored message replies to."""
        return [k for (k,) in self._select_in("replied_to", keys)]

    def thread_members(self, keys: Sequence[str]) -> dict[str, set[int]]:
        """Who has written in each of these threads, as stored."""
        members: dict[str, set[int]] = {}
        for key, person in self._select_in("thread_members", keys):
            members.setdefault(key, set()).add(person)
        return members

    def insert_interactions(self, rows: list[tuple[Any, ...]]) -> list[tuple[int, str]]:
        """Insert new interactions (rows in :data:`INTERACTION_COLUMNS` order; a duplicate
        key is skipped); their (id, source_key)."""
        stmt = (
            dialect_insert(self.conn, Interaction)
            .on_conflict_do_nothing(index_elements=[_INTERACTIONS.source_key])
            .returning(_INTERACTIONS.id, _INTERACTIONS.source_key)
        )
        values = [dict(zip(INTERACTION_COLUMNS, row, strict=True)) for row in rows]
        return [(i, k) for i, k in self.conn.execute(stmt, values)]

    def insert_participants(self, rows: list[tuple[int, int, str, str]]) -> None:
        """Participant rows as (interaction id, person id, role, response)."""
        if rows:
            self.conn.execute(
                insert(Participant),
                [
                    {"interaction_id": i, "person_id": p, "role": role, "response": response}
                    for i, p, role, response in rows
                ],
            )

    def insert_thread_members(self, rows: list[tuple[str, int]]) -> None:
        if rows:
            self.conn.execute(
                dialect_insert(self.conn, ThreadMember).on_conflict_do_nothing(),
                [{"thread_key": k, "person_id": p} for k, p in rows],
            )

    def add_sent_counts(self, counts: list[tuple[str, int]]) -> None:
        if counts:
            self.conn.execute(_ADD_SENT, [{"address": e, "sent": n} for e, n in counts])

    def upsert_pairs(self, pairs: dict[tuple[int, int], PairDelta]) -> None:
        # In the table's key order: concurrent writers lock rows in one order (no
        # deadlocks), and the B-tree is written front to back.
        rows = [
            dict(zip(PAIR_COLUMNS, pairs[key].values(*key), strict=True))
            for key in sorted(pairs, key=by_lead)
        ]
        if rows:
            self.conn.execute(_pair_upsert(self.conn), rows)

    def spill_pairs(self, pairs: dict[tuple[int, int], PairDelta]) -> None:
        """Append pair deltas to the spill table (see :func:`open_spill`)."""
        rows = [
            {**dict(zip(PAIR_COLUMNS, delta.values(*key), strict=True)), "feedback_factor": 1.0}
            for key, delta in pairs.items()
        ]
        if rows:
            self.conn.execute(insert(_SPILL), rows)


def _sqlite_pair_rows(
    pairs: dict[tuple[int, int], PairDelta],
    order: Callable[[tuple[int, int]], tuple[int, int]] | None = None,
) -> list[tuple[Any, ...]]:
    """Pair deltas as rows of ``pair_strength``'s columns (``PAIR_COLUMNS``, then
    ``feedback_factor``), times as SQLite's column type writes them; in ``order``
    of their keys when given."""
    texts: dict[datetime | None, str | None] = {None: None}

    def time(value: datetime | None) -> str | None:
        found = texts.get(value)
        if found is None and value is not None:
            found = texts[value] = sqlite_time(value)
        return found

    rows = []
    for key in pairs if order is None else sorted(pairs, key=order):
        values = pairs[key].values(*key)
        times = [time(cast(datetime | None, at)) for at in values[-5:]]
        rows.append((*values[:-5], *times, 1.0))
    return rows


class _SqliteSql(_Sql):
    """SQLite: participants and pair deltas as plain tuples through the driver's
    ``executemany`` of the statement SQLAlchemy compiled. Through SQLAlchemy's own
    ``executemany`` (a dict per row and its parameter handling) these two phases took
    far longer: ``bench/import_speed.py``'s records (20,000, one process, each way
    in turn, twice), participants 10.5-10.8 s against 3.0-6.3 s, pair upsert
    14.7-24.7 s against 4.4-7.8 s, the whole import 46-56 s against 17-26 s (this
    way: 22-31 s). The other writes and the lookups go through SQLAlchemy
    (interactions 4.8-6.1 s against 2.4-2.9 s on the driver; the rest within the
    noise).
    """

    def _executemany(self, stmt: Any, rows: list[tuple[Any, ...]]) -> None:
        compiled = stmt.compile(dialect=self.conn.dialect)
        cursor = self.conn.connection.cursor()
        try:
            cursor.executemany(compiled.string, rows)
        finally:
            cursor.close()

    def insert_participants(self, rows: list[tuple[int, int, str, str]]) -> None:
        if rows:  # (interaction_id, person_id, role, response): the table's column order
            self._executemany(insert(Participant), rows)

    def upsert_pairs(self, pairs: dict[tuple[int, int], PairDelta]) -> None:
        if pairs:
            self._executemany(_pair_upsert(self.conn), _sqlite_pair_rows(pairs, by_lead))

    def spill_pairs(self, pairs: dict[tuple[int, int], PairDelta]) -> None:
        if pairs:
            self._executemany(insert(_SPILL), _sqlite_pair_rows(pairs))


class _PostgresSql(_Sql):
    """PostgreSQL where SQLAlchemy's way costs a multiple. Measured with
    ``bench/import_speed.py``'s records (20,000, one process, each way in turn):

    - Lookups: one array per batch, run unprepared. As ``IN`` lists of 500 keys,
      psycopg prepares the statement after five runs and the server keeps a generic
      plan that, on an interactions table without statistics (an import's first
      batches), compares every row with every key: 11.3 s of lookups against 0.4-0.6 s.
    - Interactions: one ``INSERT ... SELECT FROM unnest(arrays)``. Through
      SQLAlchemy's multi-row VALUES with RETURNING: 43 s against 2.8 s.
    - Participants and pair deltas: binary COPY, the deltas into a temporary table
      that one upsert (the statement SQLite runs row by row) reads in key order.
      Through SQLAlchemy's ``executemany``: participants 20.0 s against 8.6 s, pairs
      22.7 s against 10.1 s.

    Thread members, send counters and people go through SQLAlchemy (thread members
    2.2-3.3 s against 0.8 s, send counters 1.0-2.6 s against 0.5 s: a few per cent).
    """

    def _select_in(self, read: str, keys: Sequence[str]) -> list[Any]:
        if not keys:
            return []
        compiled = _ANY_OF[read].compile(dialect=self.conn.dialect)
        cursor: Any = self.conn.connection.cursor()
        with cursor:
            cursor.execute(compiled.string, {**compiled.params, "keys": list(keys)}, prepare=False)
            return list(cursor.fetchall())

    def _copy(self, table: str, columns: Sequence[str], types: Sequence[str], rows: Any) -> None:
        sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)"
        cursor: Any = self.conn.connection.cursor()
        with cursor, cursor.copy(sql) as copy:
            copy.set_types(types)
            for row in rows:
                copy.write_row(row)

    def insert_interactions(self, rows: list[tuple[Any, ...]]) -> list[tuple[int, str]]:
        if not rows:
            return []
        arrays = ", ".join(f"%b::{t}[]" for t in _INTERACTION_TYPES)
        sql = (
            f"INSERT INTO interactions ({', '.join(INTERACTION_COLUMNS)})"
            f" SELECT * FROM unnest({arrays})"
            " ON CONFLICT (source_key) DO NOTHING RETURNING id, source_key"
        )
        cursor: Any = self.conn.connection.cursor()
        with cursor:
            cursor.execute(sql, [list(column) for column in zip(*rows, strict=True)])
            return [(i, k) for i, k in cursor.fetchall()]

    def insert_participants(self, rows: list[tuple[int, int, str, str]]) -> None:
        columns = ("interaction_id", "person_id", "role", "response")
        self._copy("participants", columns, ("int4", "int4", "text", "text"), rows)

    def upsert_pairs(self, pairs: dict[tuple[int, int], PairDelta]) -> None:
        if not pairs:
            return
        rows = [(*pairs[key].values(*key), 1.0) for key in sorted(pairs, key=by_lead)]
        self.conn.exec_driver_sql(
            f"CREATE TEMP TABLE IF NOT EXISTS {_PAIR_DELTAS.name} (LIKE pair_strength)"
            " ON COMMIT DELETE ROWS"
        )
        columns = [*PAIR_COLUMNS, "feedback_factor"]
        self._copy(f"pg_temp.{_PAIR_DELTAS.name}", columns, _PAIR_TYPES, rows)
        deltas = select(*(_PAIR_DELTAS.c[c] for c in columns)).order_by(
            _PAIR_DELTAS.c.lead_id, _PAIR_DELTAS.c.introducer_id
        )
        self.conn.execute(_pair_upsert(self.conn, deltas))
        self.conn.execute(delete(_PAIR_DELTAS))

    def spill_pairs(self, pairs: dict[tuple[int, int], PairDelta]) -> None:
        rows = ((*delta.values(*key), 1.0) for key, delta in pairs.items())
        columns = [*PAIR_COLUMNS, "feedback_factor"]
        self._copy(f"pg_temp.{_SPILL.name}", columns, _PAIR_TYPES, rows)


def _sql(conn: Connection) -> _Sql:
    return _PostgresSql(conn) if conn.dialect.name == "postgresql" else _SqliteSql(conn)


def _aware(value: Any) -> datetime:
    at = aware_utc(value)
    assert at is not None
    return at


def by_lead(key: tuple[int, int]) -> tuple[int, int]:
    """An (introducer, lead) pair key in ``pair_strength``'s key order: lead first."""
    introducer, lead = key
    return lead, introducer


def upsert_pairs(conn: Connection, pairs: dict[tuple[int, int], PairDelta]) -> None:
    """Add pair deltas to the stored aggregates (insert or add in place)."""
    _sql(conn).upsert_pairs(pairs)


def open_spill(conn: Connection) -> None:
    """An empty spill table: pair deltas that :func:`spill_pairs` appends and
    :func:`merge_spill` sums into ``pair_strength``, so that a rebuild holds a bounded
    number of pairs in memory, not the whole store's. Temporary: it lives on the
    caller's connection (on SQLite in the temporary database's file, not in memory).

    Created once per connection and emptied, never dropped: SQLite refuses to drop a
    table while any statement of the connection is still open ("database table is
    locked"), which a rebuild inside a larger transaction cannot rule out."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"CREATE TEMP TABLE IF NOT EXISTS {_SPILL.name} (LIKE pair_strength)")
    else:
        conn.exec_driver_sql(
            f"CREATE TEMP TABLE IF NOT EXISTS {_SPILL.name} AS SELECT * FROM pair_strength WHERE 0"
        )
    _empty_spill(conn)


def spill_pairs(conn: Connection, pairs: dict[tuple[int, int], PairDelta]) -> None:
    """Append these pair deltas to the spill table, in no order; a pair may come again."""
    _sql(conn).spill_pairs(pairs)


def merge_spill(conn: Connection) -> int:
    """Sum the spilled deltas of each pair into ``pair_strength`` (whose rows for these
    pairs must be gone), in the table's key order, and empty the spill table; returns
    the pairs now stored. The database sorts and groups on disk as it needs."""
    spilled = _SPILL.c
    sums = [func.sum(spilled[c]) for c in PAIR_COLUMNS[2:-5]]
    times = [func.min(spilled.first_at), *(func.max(spilled[c]) for c in PAIR_TIME_COLUMNS[1:])]
    keys = (spilled.lead_id, spilled.introducer_id)
    grouped = (
        select(spilled.introducer_id, spilled.lead_id, *sums, *times, literal(1.0))
        .group_by(*keys)
        .order_by(*keys)
    )
    conn.execute(insert(PairStrength).from_select([*PAIR_COLUMNS, "feedback_factor"], grouped))
    _empty_spill(conn)
    return int(conn.scalar(select(func.count()).select_from(PairStrength)) or 0)


def _empty_spill(conn: Connection) -> None:
    schema = "pg_temp" if conn.dialect.name == "postgresql" else "temp"
    conn.exec_driver_sql(f"DELETE FROM {schema}.{_SPILL.name}")


def _late(sql: _Sql, new: list[InteractionRecord]) -> list[str]:
    """The source keys of these new messages that land before a stored later message
    of their thread, or after a stored reply to them (read before they are written).

    Thread and reply credit depend on the order messages arrive in; a message that
    arrives late (another folder, another mailbox, a later page) leaves the additive
    aggregates of the messages after it different from a chronological import: the
    caller marks them stale once the batch is stored (``signals.stale.mark_keys``).
    """
    threads = sorted({rec.thread_key for rec in new if rec.thread_key})
    latest = dict(sql.thread_latest(threads))
    late = {
        rec.source_key
        for rec in new
        if rec.thread_key in latest and latest[rec.thread_key] > rec.occurred_at
    }
    late.update(sql.replied_to(sorted(rec.source_key for rec in new)))
    return sorted(late)


def thread_members(conn: Connection, keys: Sequence[str]) -> dict[str, set[int]]:
    """Who has written in each of these threads, as stored (``thread_members``)."""
    return _sql(conn).thread_members(keys)


def add_thread_members(conn: Connection, rows: Sequence[tuple[str, int]]) -> None:
    """Store (thread, writer) memberships; one already stored is kept."""
    _sql(conn).insert_thread_members(list(rows))


def email_authors(conn: Connection, keys: Sequence[str]) -> list[tuple[str, int, datetime, int]]:
    """(key, author, time, id) of the stored e-mails among these keys (see
    ``_Sql.parent_authors``)."""
    return _sql(conn).parent_authors(keys)


class Writer:
    """Writes batches of records; keeps an address cache across batches.

    ``timings`` adds up the seconds spent in each phase of a batch (see
    ``bench/import_speed.py``): a few clock reads per batch, no profiler.
    """

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
        self.timings: dict[str, float] = {}
        self._internal: set[int] = set()  # person ids of the colleagues in ``known``
        self._seen: set[int] = set()  # person ids whose colleague flag is in ``_internal``
        self._batch: _Batch | None = None

    def _remember(self, email: str, known: Known) -> None:
        self.known[email] = known
        self._seen.add(known.person_id)
        if known.internal:
            self._internal.add(known.person_id)

    def _tick(self, phase: str, since: float) -> float:
        now = perf_counter()
        self.timings[phase] = self.timings.get(phase, 0.0) + (now - since)
        return now

    # -- eligibility -----------------------------------------------------------------

    def _eligibility(self) -> tuple[Any, Any]:
        if self.facts.pair_mode == "all":
            return (lambda _pid: True), (lambda _pid: True)
        internal = self._internal
        return internal.__contains__, (lambda pid: pid not in internal)

    # -- people ----------------------------------------------------------------------

    def _company_ids(self, conn: Connection, domains: list[str]) -> None:
        """Find or create the companies of these domains (in order), a few statements in all."""
        wanted: list[str] = []
        for domain in dict.fromkeys(domains):
            if domain in self.companies:
                continue
            if is_public_domain(domain):
                self.companies[domain] = None
            else:
                wanted.append(domain)
        if not wanted:
            return
        for part in chunks(wanted):
            found = conn.execute(
                select(CompanyDomain.domain, CompanyDomain.company_id).where(
                    CompanyDomain.domain.in_(part)
                )
            )
            self.companies.update({domain: company for domain, company in found})
        missing = [d for d in wanted if d not in self.companies]
        if not missing:
            return
        names = [company_name_from_domain(d) for d in missing]
        ids: list[int] = []
        rows = [{"name": n, "name_key": name_key(n)} for n in names]
        for row_part in chunks(rows, 1000):
            ids.extend(
                conn.execute(
                    insert(Company).returning(Company.id, sort_by_parameter_order=True), row_part
                ).scalars()
            )
        conn.execute(
            dialect_insert(conn, CompanyDomain).on_conflict_do_nothing(),
            [{"domain": d, "company_id": i} for d, i in zip(missing, ids, strict=True)],
        )
        self.companies.update(zip(missing, ids, strict=True))

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
                self._remember(email, Known(pid, internal, automated))
        new = [e for e in missing if e not in self.known]
        if not new:
            return 0
        internal_of = {email: self.policy.is_internal(email) for email in new}
        self._company_ids(conn, [domain_of(e) for e in new if not internal_of[e]])
        people: list[dict[str, Any]] = []
        for email in new:
            internal = internal_of[email]
            name = parties[email] or name_from_email(email)
            people.append(
                {
                    "internal": internal,
                    "display_name": name,
                    "name_key": name_key(name),
                    "company_id": None if internal else self.companies[domain_of(email)],
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
            stmt = insert(Person).returning(Person.id, sort_by_parameter_order=True)
            ids.extend(conn.execute(stmt, people_part).scalars())
        added: set[str] = set()
        address_stmt = (
            dialect_insert(conn, Address).on_conflict_do_nothing().returning(Address.email)
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
                self._remember(email, Known(pid, person["internal"], person["is_automated"]))
                continue
            # another writer created this address meanwhile: use its person
            conn.execute(delete(Person).where(Person.id == pid))
            row = conn.execute(
                select(Person.id, Person.internal, Person.is_automated)
                .join(Address, Address.person_id == Person.id)
                .where(Address.email == email)
            ).one()
            self._remember(email, Known(row[0], row[1], row[2]))
        return created

    # -- batches ---------------------------------------------------------------------

    def write(self, records: Iterable[InteractionRecord]) -> IngestStats:
        """Write one batch in one transaction."""
        with self.engine.begin() as conn:
            stats = self.write_on(conn, records)
            started = perf_counter()
        self._tick("commit", started)
        return stats

    def write_on(
        self, conn: Connection, records: Iterable[InteractionRecord], *, find_late: bool = False
    ) -> IngestStats:
        """Write one batch inside the caller's transaction (e.g. with a sync page's link).
        With ``find_late``, ``stats.late`` names the new messages that arrived out of
        time order, for the caller to mark stale once written."""
        batch = list(records)
        stats = IngestStats(messages=len(batch))
        if not batch:
            return stats
        try:
            self._write(conn, _sql(conn), batch, stats, find_late)
        except BaseException:
            self.forget()
            raise
        return stats

    def forget(self) -> None:
        """Drop what was learnt in a transaction that is rolling back."""
        self.known.clear()
        self.companies.clear()
        self._internal.clear()
        self._seen.clear()

    def _write(
        self,
        conn: Connection,
        sql: _Sql,
        batch: list[InteractionRecord],
        stats: IngestStats,
        find_late: bool,
    ) -> None:
        started = perf_counter()
        unique: dict[str, InteractionRecord] = {}
        for rec in batch:
            if rec.source_key in unique:
                stats.duplicates += 1
            else:
                unique[rec.source_key] = rec
        # Whose data may be stored, read under the gate's lock in this transaction
        # (before the duplicates go: a refused record is refused, stored or not).
        kept, stats.refused = privacy.read_gate(conn).screen(list(unique.values()))
        unique = {rec.source_key: rec for rec in kept}
        started = self._tick("privacy gate", started)
        for key in sql.existing_keys(list(unique)):
            del unique[key]
            stats.duplicates += 1
        fresh = sorted(unique.values(), key=lambda r: r.occurred_at)
        started = self._tick("dedupe (read existing keys)", started)
        if not fresh:
            return
        if find_late:
            stats.late = _late(sql, fresh)
            started = self._tick("late messages (read)", started)

        parties: dict[str, str] = {}  # first non-empty name of each address, in order
        get = parties.get
        for rec in fresh:  # the order of _all_parties: it decides the order people are created
            for one in (rec.author, rec.sent_by):
                if one is not None and not get(one.email):
                    parties[one.email] = one.name
            for group in (rec.to, rec.cc, rec.bcc, rec.attendees):
                for p in group:
                    if not get(p.email):
                        parties[p.email] = p.name
        stats.new_people = self._resolve(conn, parties)
        started = self._tick("people (resolve, create)", started)

        store_subjects = self.store_subjects
        rows = [
            (
                rec.kind.value,
                rec.source_key,
                rec.occurred_at,
                rec.thread_key,
                rec.parent_key,
                _recipient_count(rec),
                rec.automated,
                rec.bulk,
                rec.is_list,
                rec.cancelled,
                rec.duration_seconds,
                rec.subject if store_subjects else None,
                rec.origin,
            )
            for rec in fresh
        ]
        ids = {key: iid for iid, key in sql.insert_interactions(rows)}
        fresh = [rec for rec in fresh if rec.source_key in ids]
        stats.duplicates += len(unique) - len(fresh)
        stats.new_interactions = len(fresh)
        stats.stored = {rec.source_key: ids[rec.source_key] for rec in fresh}
        started = self._tick("interactions (rows, insert)", started)

        known = self.known
        pid_of = {email: known[email].person_id for email in parties}
        automated = {pid_of[email] for email in parties if known[email].automated}
        participants: list[tuple[int, int, str, str]] = []
        events: list[Event] = []
        for rec in fresh:
            event = self._participants(
                rec, ids[rec.source_key], pid_of, automated.__contains__, participants
            )
            events.append(event)
        started = self._tick("participant rows + events", started)
        sql.insert_participants(participants)
        started = self._tick("participants insert", started)

        self._batch = _Batch(sql, events)
        try:
            self._aggregate(conn, fresh)
        finally:
            self._batch = None
        started = perf_counter()
        self._mark_senders(conn, sql, fresh)
        self._tick("sender counters", started)

    def _participants(
        self,
        rec: InteractionRecord,
        iid: int,
        pid_of: dict[str, int],
        is_automated: Callable[[int], bool],
        out: list[tuple[int, int, str, str]],
    ) -> Event:
        """Append the record's participant rows to ``out``; the record as an Event."""
        kind = rec.kind
        lead_role, lead_response, other_role = _ROLES[kind]
        # A person appears once per role: only a role's own list can repeat them, and
        # the author's role is shared with the others' only in chats.
        author = None
        if rec.author is not None:
            author = pid_of[rec.author.email]
            out.append((iid, author, lead_role, lead_response))
        if rec.sent_by is not None:
            out.append((iid, pid_of[rec.sent_by.email], _SENDER, _NO_RESPONSE))
        to = tuple([pid_of[p.email] for p in rec.to])
        cc = tuple([pid_of[p.email] for p in rec.cc])
        bcc = tuple([pid_of[p.email] for p in rec.bcc])
        if to:
            out.extend([(iid, pid, _TO, _NO_RESPONSE) for pid in dict.fromkeys(to)])
        if cc:
            out.extend([(iid, pid, _CC, _NO_RESPONSE) for pid in dict.fromkeys(cc)])
        if bcc:
            out.extend([(iid, pid, _BCC, _NO_RESPONSE) for pid in dict.fromkeys(bcc)])
        attendees = tuple([(pid_of[a.email], a.response) for a in rec.attendees])
        if attendees:
            taken = {author} if other_role == lead_role else set()
            for pid, response in attendees:
                if pid not in taken:
                    taken.add(pid)
                    out.append((iid, pid, other_role, response.value))
        return Event(  # positional: this runs once per interaction
            kind,
            rec.occurred_at,
            author,
            to,
            cc + bcc,
            attendees,
            None,  # parent_author: filled in by _aggregate
            rec.thread_key,
            rec.automated
            or rec.bulk
            or rec.is_list
            or author_automated(kind, author, (pid for pid, _ in attendees), is_automated),
            rec.cancelled,
            rec.duration_seconds,
        )

    def _aggregate(self, conn: Connection, fresh: list[InteractionRecord]) -> None:
        started = perf_counter()
        assert self._batch is not None
        sql, events = self._batch.sql, self._batch.events
        # Authors of the messages these reply to: from this batch, else from the store.
        authors: dict[str, int] = {
            rec.source_key: event.author
            for rec, event in zip(fresh, events, strict=True)
            if rec.kind == Kind.EMAIL and event.author is not None
        }
        wanted = {r.parent_key for r in fresh if r.parent_key and r.parent_key not in authors}
        authors.update((key, author) for key, author, _, _ in sql.parent_authors(sorted(wanted)))
        threads = sql.thread_members(sorted({r.thread_key for r in fresh if r.thread_key}))
        self._learn_colleagues(conn, {p for members in threads.values() for p in members})
        started = self._tick("reply authors + threads (read)", started)

        is_introducer, is_lead = self._eligibility()
        agg = Aggregator(
            self.facts.clock,
            max_audience=self.facts.max_audience,
            is_introducer=is_introducer,
            is_lead=is_lead,
            thread_members=threads,
        )
        add = agg.add
        for rec, event in zip(fresh, events, strict=True):
            if rec.parent_key:
                event.parent_author = authors.get(rec.parent_key)
            add(event)
        started = self._tick("aggregate (pure Python)", started)
        sql.insert_thread_members(sorted(agg.new_thread_members))
        started = self._tick("thread members insert", started)
        sql.upsert_pairs(agg.pairs)
        self._tick("pair upsert (rows, SQL)", started)

    def _learn_colleagues(self, conn: Connection, person_ids: set[int]) -> None:
        """Which of these people (earlier writers in a thread) are colleagues."""
        unknown = sorted(person_ids - self._seen)
        for part in chunks(unknown):
            self._internal.update(
                conn.execute(select(Person.id).where(Person.id.in_(part), Person.internal))
                .scalars()
                .all()
            )
        self._seen.update(unknown)

    def _mark_senders(self, conn: Connection, sql: _Sql, fresh: list[InteractionRecord]) -> None:
        """Count what each address sent (list detection). Whose mailbox was read is not
        the writer's to say: the sync and the importer note it (``signals.privacy``)."""
        sent: dict[str, int] = {}
        for rec in fresh:
            if rec.author is not None and rec.kind == Kind.EMAIL:
                sent[rec.author.email] = sent.get(rec.author.email, 0) + 1
        sql.add_sent_counts(sorted(sent.items()))


_SENDER = Role.SENDER.value
_TO = Role.TO.value
_CC = Role.CC.value
_BCC = Role.BCC.value
_NO_RESPONSE = Response.NONE.value
# Per kind: the role and response of its author, and the role of its attendees.
_ROLES: dict[Kind, tuple[str, str, str]] = {
    Kind.EMAIL: (Role.FROM.value, _NO_RESPONSE, Role.MEMBER.value),
    Kind.MEETING: (Role.ORGANIZER.value, Response.ORGANIZER.value, Role.ATTENDEE.value),
    Kind.CALL: (Role.CALLER.value, _NO_RESPONSE, Role.CALLEE.value),
    Kind.CHAT: (Role.MEMBER.value, _NO_RESPONSE, Role.MEMBER.value),
}


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


def write_all(
    writer: Writer, records: Iterable[InteractionRecord], batch_size: int | None = None
) -> IngestStats:
    """Write records in batches of ``batch_size`` (one transaction each)."""
    total = IngestStats()
    for batch in chunks(records, batch_size or settings.BATCH_SIZE.get()):
        total.add(writer.write(batch))
    return total
