"""Recomputing the per-pair aggregates from the stored interactions.

Needed when the half-life or audience cap changes, and by the evaluation,
which ranks with only the interactions before a cutoff; ``signals.stale``
replays parts of the store with the same pieces. It feeds the same
:class:`signals.aggregate.Aggregator` that the importers use, so all paths give
the same numbers.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from itertools import groupby
from typing import Any

from sqlalchemy import Connection, Engine, Select, bindparam, delete, insert, select, update

from signals import privacy
from signals.aggregate import Aggregator, Eligible, Event, PairDelta, author_automated
from signals.ingest import (
    add_thread_members,
    by_lead,
    chunks,
    email_authors,
    merge_spill,
    open_spill,
    spill_pairs,
    thread_members,
    upsert_pairs,
)
from signals.meta import StoreFacts, read_facts
from signals.models import (
    Interaction,
    Kind,
    PairStrength,
    Participant,
    Person,
    Response,
    Role,
    StalePair,
    StaleThread,
    ThreadMember,
)

AUTHOR_ROLES = {Role.FROM.value, Role.ORGANIZER.value, Role.CALLER.value}
# Role and response strings as plain values: enum attribute access is slow, and
# these run once per stored participant.
_TO = Role.TO.value
_CC_ROLES = {Role.CC.value, Role.BCC.value}
_ATTENDEE_ROLES = {Role.ATTENDEE.value, Role.CALLEE.value, Role.MEMBER.value}
_RESPONSES = {r.value: r for r in Response}
_KINDS = {k.value: k for k in Kind}
_STREAM_BATCH = 10_000
_WRITE_CHUNK = 20_000
# A full rebuild's bounds (see rebuild_in): events replayed between reads and writes of
# thread members, and pair deltas held before they go to the spill table.
EVENT_BATCH = 5_000
PAIR_SPILL = 100_000


_EVENT_COLUMNS: tuple[Any, ...] = (
    Interaction.id,
    Interaction.kind,
    Interaction.occurred_at,
    Interaction.source_key,
    Interaction.parent_key,
    Interaction.thread_key,
    Interaction.automated,
    Interaction.bulk,
    Interaction.is_list,
    Interaction.cancelled,
    Interaction.duration_seconds,
    Participant.person_id,
    Participant.role,
    Participant.response,
)


def _event_rows() -> Select[Any]:
    """Interactions joined with their participants: one row per participant."""
    return select(*_EVENT_COLUMNS).join(Participant, Participant.interaction_id == Interaction.id)


def _automated(conn: Connection) -> set[int]:
    return set(conn.execute(select(Person.id).where(Person.is_automated)).scalars())


def stored_events(conn: Connection, until: datetime | None = None) -> Iterator[Event]:
    """The stored interactions as aggregate events, oldest first.

    One query streams each interaction with its participants, so memory holds a
    batch of rows, not every participant of the store (6–8 GB at five million
    interactions). The authors of the messages a batch replies to are looked up per
    batch, among the messages before it, rather than kept for every e-mail seen.
    """
    query = _event_rows().order_by(Interaction.occurred_at, Interaction.id)
    if until is not None:
        query = query.where(Interaction.occurred_at < until)
    automated = _automated(conn)
    rows = conn.execute(query.execution_options(yield_per=_STREAM_BATCH))
    for batch in chunks(_grouped(rows), _STREAM_BATCH // 2):
        first = batch[0][0]
        authors = _authors_before(
            conn, {row.parent_key for row, _ in batch if row.parent_key}, first
        )
        for row, parts in batch:
            yield to_event(row, parts, automated, authors)


def _authors_before(conn: Connection, keys: set[str], first: Any) -> dict[str, int]:
    """The authors of these e-mails, for those stored before ``first`` (in time, then
    id order: the replay has met them); later ones join as the replay meets them."""
    before = (first.occurred_at, first.id)
    return {
        key: author
        for key, author, at, iid in email_authors(conn, sorted(keys))
        if (at, iid) < before
    }


def _grouped(rows: Iterable[Any]) -> Iterator[tuple[Any, list[tuple[int, str, str]]]]:
    """Rows of interactions joined with their participants, ordered by interaction,
    as (first row, [(person, role, response)]) per interaction."""
    for _, group in groupby(rows, key=lambda row: row.id):
        parts = list(group)
        yield parts[0], [(r.person_id, r.role, r.response) for r in parts]


def events_of(conn: Connection, interaction_ids: Iterable[int]) -> Iterator[Event]:
    """These interactions as aggregate events, in the order a full replay meets them
    (time, then id), so that a partial replay adds up exactly as the full one."""
    rows: list[Any] = []
    for part in chunks(sorted(set(interaction_ids))):
        rows.extend(conn.execute(_event_rows().where(Interaction.id.in_(part))))
    rows.sort(key=lambda row: (row.occurred_at, row.id))
    authors: dict[str, int] = {}
    for _, event in grouped_events(rows, _automated(conn), authors):
        yield event


def pair_sides(conn: Connection, facts: StoreFacts) -> tuple[Eligible, Eligible]:
    """Who may be an introducer, and who a lead: colleagues and external contacts,
    or anyone in evaluation mode (``pair_mode`` "all")."""
    internal = set(conn.execute(select(Person.id).where(Person.internal)).scalars())
    everyone = facts.pair_mode == "all"
    # The privacy gate: nobody whose data may not be stored is part of a pair.
    refused = set(conn.execute(select(Person.id).where(privacy.never_stored())).scalars())
    return (
        (lambda p: (everyone or p in internal) and p not in refused),
        (lambda p: (everyone or p not in internal) and p not in refused),
    )


def aggregator_for(
    conn: Connection, facts: StoreFacts, *, thread_members: dict[str, set[int]] | None = None
) -> Aggregator:
    """An empty aggregator with the store's clock, audience cap and pair sides
    (``thread_members``: see :class:`signals.aggregate.Aggregator`)."""
    is_introducer, is_lead = pair_sides(conn, facts)
    return Aggregator(
        facts.clock,
        max_audience=facts.max_audience,
        is_introducer=is_introducer,
        is_lead=is_lead,
        thread_members=thread_members,
    )


def grouped_events(
    rows: Iterable[Any], automated: set[int], authors: dict[str, int]
) -> Iterator[tuple[Any, Event]]:
    """Rows of interactions joined with their participants (``person_id``, ``role``,
    ``response``), ordered by time then interaction id, as (first row, event) per
    interaction; see :func:`to_event` for ``automated`` and ``authors``."""
    for first, parts in _grouped(rows):
        yield first, to_event(first, parts, automated, authors)


def to_event(
    row: Any, parts: list[tuple[int, str, str]], automated: set[int], authors: dict[str, int]
) -> Event:
    """One stored interaction (``row``: its columns; ``parts``: (person, role, response)
    of each participant) as an aggregate event. ``authors`` maps the e-mails seen so
    far to their authors, for replies; events must come in time order."""
    kind = _KINDS[row.kind]
    author = next((pid for pid, role, _ in parts if role in AUTHOR_ROLES), None)
    automated_author = author_automated(
        kind, author, (pid for pid, _, _ in parts), automated.__contains__
    )
    if kind == Kind.CHAT and author is None and parts:
        # No starter is stored: any member stands for it (chats weigh every member alike).
        author = parts[0][0]
    if author is not None and kind == Kind.EMAIL:
        authors[row.source_key] = author
    return Event(
        kind=kind,
        at=row.occurred_at,
        author=author,
        to=tuple([pid for pid, role, _ in parts if role == _TO]),
        cc=tuple([pid for pid, role, _ in parts if role in _CC_ROLES]),
        attendees=tuple(
            [
                (pid, _RESPONSES[resp])
                for pid, role, resp in parts
                if role in _ATTENDEE_ROLES and pid != author
            ]
        ),
        parent_author=authors.get(row.parent_key) if row.parent_key else None,
        thread_key=row.thread_key,
        ignored=row.automated or row.bulk or row.is_list or automated_author,
        cancelled=row.cancelled,
        duration_seconds=row.duration_seconds,
    )


def lock_aggregates(conn: Connection) -> None:
    """On PostgreSQL, make writers that would add to the aggregates (or mark them
    stale) wait until this transaction has replaced them.

    The tables are locked in the order writers touch them (the importer's thread
    members, then pairs, then ``signals.stale``'s marks), so that a writer already
    under way finishes instead of deadlocking with this transaction.
    """
    privacy.hold(conn)  # first: an opt-out takes the gate, then these tables
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(
            "LOCK TABLE thread_members, pair_strength, stale_pairs, stale_threads"
            " IN SHARE ROW EXCLUSIVE MODE"
        )


def rebuild_in(
    conn: Connection, *, until: datetime | None = None, facts: StoreFacts | None = None
) -> int:
    """Replace every aggregate, inside the caller's transaction; returns the pairs written.

    On PostgreSQL the aggregate tables are locked first, so that a writer
    committing meanwhile waits and its additions land on the rebuilt sums
    instead of being wiped by them.

    Memory stays bounded whatever the store's size: the replay goes in batches of
    events, which read the thread members they need from the table the batches
    before them wrote (as an import does), and pair deltas go to a spill table
    every :data:`PAIR_SPILL` pairs, which the database sums at the end (see
    ``signals.ingest.open_spill``). ``bench/rebuild.py``: a peak RSS of 215 MB at 1.07
    million interactions and 258 MB at 5.2 million, where holding every pair and
    thread in memory took 365 MB and 1,225 MB.
    """
    lock_aggregates(conn)
    agg = aggregator_for(conn, facts or read_facts(conn), thread_members={})
    feedback = lowered_feedback(conn)
    conn.execute(delete(PairStrength))
    conn.execute(delete(ThreadMember))
    conn.execute(delete(StalePair))  # everything is recomputed: nothing is stale any more
    conn.execute(delete(StaleThread))
    open_spill(conn)
    for batch in chunks(stored_events(conn, until), EVENT_BATCH):
        agg.threads = thread_members(
            conn, sorted({e.thread_key for e in batch if e.thread_key is not None})
        )
        agg.add_all(batch)
        add_thread_members(conn, sorted(agg.new_thread_members))
        agg.new_thread_members.clear()
        if len(agg.pairs) >= PAIR_SPILL:
            spill_pairs(conn, agg.pairs)
            agg.pairs = {}
    spill_pairs(conn, agg.pairs)
    pairs = merge_spill(conn)
    restore_feedback(conn, feedback)
    return pairs


def lowered_feedback(conn: Connection, *, stale_only: bool = False) -> list[Any]:
    """Pairs whose feedback ("doesn't know them" on an introduction) lowered them.
    Feedback is not derived from interactions: it survives a recomputation."""
    query = select(
        PairStrength.introducer_id, PairStrength.lead_id, PairStrength.feedback_factor
    ).where(PairStrength.feedback_factor != 1.0)
    if stale_only:
        query = query.join(
            StalePair,
            (StalePair.introducer_id == PairStrength.introducer_id)
            & (StalePair.lead_id == PairStrength.lead_id),
        )
    return list(conn.execute(query))


def write_aggregates(
    conn: Connection,
    pairs: dict[tuple[int, int], PairDelta],
    members: Iterable[tuple[str, int]],
    feedback: list[Any],
) -> None:
    """Store recomputed pairs and thread members (their old rows already deleted),
    and put back the feedback of the pairs that remain. Written in chunks, so that
    the rows for the driver never add a second copy of a whole store's aggregates."""
    for part in chunks(members, _WRITE_CHUNK):
        conn.execute(insert(ThreadMember), [{"thread_key": t, "person_id": p} for t, p in part])
    for keys in chunks(sorted(pairs, key=by_lead), _WRITE_CHUNK):
        upsert_pairs(conn, {key: pairs[key] for key in keys})
    restore_feedback(conn, [(i, lead, f) for i, lead, f in feedback if (i, lead) in pairs])


def restore_feedback(conn: Connection, feedback: Iterable[Any]) -> None:
    """Put back the feedback factor of these (introducer, lead, factor) pairs; a pair
    no longer stored stays gone."""
    kept = [{"i": i, "l": lead, "f": f} for i, lead, f in feedback]
    if kept:
        conn.execute(
            update(PairStrength)
            .where(
                PairStrength.introducer_id == bindparam("i"), PairStrength.lead_id == bindparam("l")
            )
            .values(feedback_factor=bindparam("f")),
            kept,
        )


def rebuild_aggregates(
    engine: Engine, *, until: datetime | None = None, facts: StoreFacts | None = None
) -> int:
    """Replace every aggregate by one computed from interactions before ``until``."""
    with engine.begin() as conn:
        return rebuild_in(conn, until=until, facts=facts)
