"""Stale aggregates, and recomputing only them.

The per-pair aggregates are additive: an interaction adds to the pairs it links,
with reply and thread credit that depend on the messages before it. A removed
message cannot be subtracted back out, and a message that arrives after a later
one of its thread changes the credit of those later ones. Rather than rebuild
every aggregate of the store (minutes and gigabytes at millions of
interactions), such a change marks what it touched: its own pairs (read while
the message is still stored), its thread, and the threads of its replies.

:func:`refresh` then recomputes exactly the marked pairs and threads: it
replays every interaction that links a marked pair, every message of the
threads involved and the messages they reply to, in the order a full rebuild
meets them, through the same :class:`signals.aggregate.Aggregator`. The result
equals a full rebuild's (tests check it after removals and late arrivals).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, bindparam, delete, func, select

from signals.aggregate import CROWD_COUNT_LIMIT
from signals.db import dialect_insert
from signals.ingest import chunks
from signals.meta import StoreFacts, read_facts
from signals.models import (
    Interaction,
    Kind,
    PairStrength,
    Participant,
    StalePair,
    StaleThread,
    ThreadMember,
)
from signals.rebuild import (
    AUTHOR_ROLES,
    aggregator_for,
    events_of,
    lock_aggregates,
    lowered_feedback,
    pair_sides,
    rebuild_in,
    write_aggregates,
)

# Past this share of all pairs a full rebuild is cheaper than a scoped one.
FULL_REBUILD_SHARE = 0.25
# The most pairs a refresh without a full rebuild takes on (the web process's): its
# memory and time grow with the stale set, never with the store.
SCOPED_MAX_PAIRS = 50_000

Pair = tuple[int, int]


@dataclass(frozen=True)
class Refreshed:
    """What :func:`refresh` recomputed (``full``: it rebuilt everything instead)."""

    pairs: int
    threads: int
    replayed: int  # interactions replayed (all of them when ``full``)
    full: bool = False
    deferred: bool = False  # too much is stale for a scoped refresh: left to a worker


def touched_pairs(conn: Connection, interaction_ids: Iterable[int], facts: StoreFacts) -> set[Pair]:
    """The pairs these interactions may add to, stored or not (a superset).

    The shapes are the aggregator's: an e-mail links its author with each recipient
    and (thread credit) with each person who wrote in its thread; a meeting, call or
    chat links every two of its parties, and a meeting beyond the audience cap
    nobody. A late message can give a pair its first credit, so stored pairs alone
    would not do.
    """
    is_introducer, is_lead = pair_sides(conn, facts)
    out: set[Pair] = set()
    for part in chunks(sorted(set(interaction_ids))):
        kinds: dict[int, str] = {}
        authors: dict[int, int] = {}
        parties: dict[int, set[int]] = {}
        for interaction, kind, person, role in conn.execute(
            select(Interaction.id, Interaction.kind, Participant.person_id, Participant.role)
            .join(Participant, Participant.interaction_id == Interaction.id)
            .where(Interaction.id.in_(part))
        ):
            kinds[interaction] = kind
            parties.setdefault(interaction, set()).add(person)
            if role in AUTHOR_ROLES:
                authors[interaction] = person
        writers: dict[int, set[int]] = {}
        for interaction, person in conn.execute(
            select(Interaction.id, ThreadMember.person_id)
            .join(ThreadMember, ThreadMember.thread_key == Interaction.thread_key)
            .where(Interaction.id.in_(part))
        ):
            writers.setdefault(interaction, set()).add(person)
        for interaction, people in parties.items():
            if kinds[interaction] == Kind.EMAIL.value:
                author = authors.get(interaction)
                if author is None:
                    continue
                linked = [
                    pair
                    for other in people | writers.get(interaction, set())
                    if other != author
                    for pair in ((author, other), (other, author))
                ]
            elif kinds[interaction] == Kind.MEETING.value and len(people) > CROWD_COUNT_LIMIT + 1:
                continue  # as the aggregate: an all-hands is not even counted as left out
            else:
                linked = [(a, b) for a in people for b in people if a != b]
            out.update((i, lead) for i, lead in linked if is_introducer(i) and is_lead(lead))
    return out


def _add_pairs(conn: Connection, pairs: Iterable[Pair]) -> None:
    rows = [{"introducer_id": i, "lead_id": lead} for i, lead in sorted(pairs)]
    for part in chunks(rows):
        conn.execute(dialect_insert(conn, StalePair).on_conflict_do_nothing(), part)


def _add_threads(conn: Connection, threads: Iterable[str]) -> None:
    rows = [{"thread_key": t} for t in sorted(set(threads))]
    for part in chunks(rows):
        conn.execute(dialect_insert(conn, StaleThread).on_conflict_do_nothing(), part)


def mark(conn: Connection, interaction_ids: Iterable[int]) -> None:
    """Mark what these interactions touched as stale, in the caller's transaction:
    before they are deleted, or after they were stored later than a message of
    their thread."""
    facts = read_facts(conn)
    for part in chunks(sorted(set(interaction_ids))):
        own = conn.execute(
            select(Interaction.id, Interaction.thread_key, Interaction.source_key).where(
                Interaction.id.in_(part)
            )
        ).all()
        replies = conn.execute(
            select(Interaction.id, Interaction.thread_key).where(
                Interaction.parent_key.in_([key for _, _, key in own])
            )
        ).all()
        threads = {t for _, t, _ in own if t} | {t for _, t in replies if t}
        loose = [i for i, t in replies if not t]  # a reply outside any thread: its own pairs
        _add_pairs(conn, touched_pairs(conn, [*part, *loose], facts))
        _add_threads(conn, threads)  # after the pairs: the order of lock_aggregates


def mark_keys(conn: Connection, source_keys: Iterable[str]) -> None:
    """:func:`mark` for stored interactions named by their source keys (the
    late messages of a batch a ``Writer`` found, once it is written)."""
    for part in chunks(sorted(set(source_keys))):
        mark(
            conn,
            conn.execute(select(Interaction.id).where(Interaction.source_key.in_(part))).scalars(),
        )


def pending(conn: Connection) -> bool:
    """Whether anything is marked stale."""
    return any(
        conn.execute(select(table).limit(1)).first() is not None
        for table in (StalePair, StaleThread)
    )


def _thread_interactions(conn: Connection, threads: Iterable[str]) -> set[int]:
    out: set[int] = set()
    for part in chunks(sorted(set(threads))):
        out.update(
            conn.execute(select(Interaction.id).where(Interaction.thread_key.in_(part))).scalars()
        )
    return out


def _linking(conn: Connection, pairs: set[Pair]) -> set[int]:
    """The interactions in which both people of one of ``pairs`` take part.

    The leads' interactions first, then their participants, each through its own
    index: in one join SQLite's planner, without statistics on the stale pairs,
    scanned every participant of the store."""
    by_lead: dict[int, set[int]] = {}
    for introducer, lead in pairs:
        by_lead.setdefault(lead, set()).add(introducer)
    leads_in: dict[int, set[int]] = {}  # interaction -> its stale leads
    for leads in chunks(sorted(by_lead)):
        for interaction, lead in conn.execute(
            select(Participant.interaction_id, Participant.person_id).where(
                Participant.person_id.in_(leads)
            )
        ):
            leads_in.setdefault(interaction, set()).add(lead)
    out: set[int] = set()
    for part in chunks(sorted(leads_in)):
        for interaction, person in conn.execute(
            select(Participant.interaction_id, Participant.person_id).where(
                Participant.interaction_id.in_(part)
            )
        ):
            if any(person in by_lead[lead] for lead in leads_in[interaction]):
                out.add(interaction)
    return out


def refresh(
    conn: Connection,
    *,
    facts: StoreFacts | None = None,
    full_allowed: bool = True,
    max_pairs: int = SCOPED_MAX_PAIRS,
) -> Refreshed:
    """Recompute the stale pairs and threads, in the caller's transaction.

    Locks the aggregate tables on PostgreSQL as a full rebuild does, so that no
    writer adds to a pair between its replay and its replacement. Without
    ``full_allowed`` (the web process) it is always scoped, and more than ``max_pairs``
    stale pairs are not done at all: the marks stay for the sync worker or the next
    import.
    """
    lock_aggregates(conn)
    facts = facts or read_facts(conn)
    threads = set(conn.execute(select(StaleThread.thread_key)).scalars())
    # Every pair a message of a stale thread adds to may have lost or gained credit.
    _add_pairs(conn, touched_pairs(conn, _thread_interactions(conn, threads), facts))
    stale = {
        (i, lead) for i, lead in conn.execute(select(StalePair.introducer_id, StalePair.lead_id))
    }
    if not stale and not threads:
        return Refreshed(0, 0, 0)
    total = conn.execute(select(func.count()).select_from(PairStrength)).scalar_one()
    if not full_allowed and len(stale) > max_pairs:
        return Refreshed(0, 0, 0, deferred=True)
    if full_allowed and len(stale) > FULL_REBUILD_SHARE * max(total, 1):
        pairs = rebuild_in(conn, facts=facts)
        replayed = conn.execute(select(func.count()).select_from(Interaction)).scalar_one()
        return Refreshed(pairs, len(threads), replayed, full=True)
    # What the stale pairs' sums depend on: every interaction linking both people of
    # one, the whole of those interactions' threads, and the messages they reply to.
    linking = _linking(conn, stale)
    for part in chunks(sorted(linking)):
        threads.update(
            key
            for key in conn.execute(
                select(Interaction.thread_key).distinct().where(Interaction.id.in_(part))
            ).scalars()
            if key is not None
        )
    replay = linking | _thread_interactions(conn, threads)
    parents: set[int] = set()
    for part in chunks(sorted(replay)):
        replied_to = select(Interaction.parent_key).where(
            Interaction.id.in_(part), Interaction.parent_key.is_not(None)
        )
        parents.update(
            conn.execute(
                select(Interaction.id).where(Interaction.source_key.in_(replied_to))
            ).scalars()
        )
    agg = aggregator_for(conn, facts)
    agg.add_all(events_of(conn, replay | parents))
    feedback = lowered_feedback(conn, stale_only=True)
    conn.execute(
        delete(PairStrength).where(
            PairStrength.introducer_id == bindparam("i"), PairStrength.lead_id == bindparam("l")
        ),
        [{"i": i, "l": lead} for i, lead in sorted(stale)],
    )
    for keys in chunks(sorted(threads)):
        conn.execute(delete(ThreadMember).where(ThreadMember.thread_key.in_(keys)))
    write_aggregates(
        conn,
        {key: agg.pairs[key] for key in stale if key in agg.pairs},
        (member for member in agg.memberships() if member[0] in threads),
        feedback,
    )
    conn.execute(delete(StalePair))
    conn.execute(delete(StaleThread))
    return Refreshed(len(stale), len(threads), len(replay | parents))


def refresh_stale(
    engine: Engine, *, full_allowed: bool = True, max_pairs: int = SCOPED_MAX_PAIRS
) -> Refreshed:
    """:func:`refresh` in a transaction of its own; when nothing is marked, nothing
    is done (and nothing locked)."""
    with engine.begin() as conn:
        if not pending(conn):
            return Refreshed(0, 0, 0)
        return refresh(conn, full_allowed=full_allowed, max_pairs=max_pairs)
