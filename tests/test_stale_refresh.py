"""A scoped refresh of the aggregates gives exactly what a full rebuild gives.

Removed messages and messages that arrive after a later one of their thread mark
what they touched (signals.stale); the refresh recomputes only that. Each test
compares the refreshed store, row for row, with a full rebuild of the same
interactions, on both backends, on the tiny demo organisation.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, delete, func, select, update
from sqlalchemy.orm import Session

from signals import stale
from signals.demo import build_demo, generate
from signals.demo.org import DOMAIN
from signals.ingest import Writer
from signals.models import (
    Interaction,
    Kind,
    PairStrength,
    Participant,
    Person,
    StalePair,
    StaleThread,
    ThreadMember,
)
from signals.rebuild import rebuild_aggregates, rebuild_in
from signals.store import forget_person


@pytest.fixture
def demo(engine: Engine) -> Engine:
    build_demo(engine, "tiny", seed=7)
    rebuild_aggregates(engine)  # the baseline: aggregates exactly as a replay gives them
    return engine


def _state(conn: Connection) -> tuple[dict[tuple[int, int], tuple[Any, ...]], set[Any]]:
    pairs = {
        (row.introducer_id, row.lead_id): tuple(row)
        for row in conn.execute(select(PairStrength.__table__))
    }
    members = {
        (t, p) for t, p in conn.execute(select(ThreadMember.thread_key, ThreadMember.person_id))
    }
    return pairs, members


def _assert_as_full_rebuild(conn: Connection) -> None:
    refreshed = _state(conn)
    rebuild_in(conn)
    rebuilt = _state(conn)
    assert refreshed[1] == rebuilt[1]
    assert refreshed[0].keys() == rebuilt[0].keys()
    differing = [key for key, row in refreshed[0].items() if row != rebuilt[0][key]]
    assert not differing, (differing[:3], [refreshed[0][k] for k in differing[:1]])


def _sample(conn: Connection, query: Any, n: int, seed: int) -> list[Any]:
    found = sorted(conn.execute(query).scalars())
    return random.Random(seed).sample(found, min(n, len(found)))


def _count(conn: Connection, table: Any) -> int:
    return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


@pytest.mark.parametrize("seed", [1, 2])
def test_removals_refresh_exactly_what_a_full_rebuild_gives(demo: Engine, seed: int) -> None:
    with demo.begin() as conn:
        total = _count(conn, Interaction)
        replied_to = select(Interaction.id).where(
            Interaction.source_key.in_(select(Interaction.parent_key))
        )
        gone = set(_sample(conn, replied_to, 5, seed))  # their replies lose reply credit
        gone |= set(_sample(conn, select(Interaction.id), 25, seed))
        gone |= set(
            _sample(conn, select(Interaction.id).where(Interaction.kind != Kind.EMAIL), 5, seed)
        )
        stale.mark(conn, gone)
        conn.execute(delete(Interaction).where(Interaction.id.in_(sorted(gone))))
        assert stale.pending(conn)
        done = stale.refresh(conn)
        assert not done.full and 0 < done.replayed < total / 2
        assert done.pairs > 0 and not stale.pending(conn)
        _assert_as_full_rebuild(conn)


def test_late_messages_refresh_the_threads_they_land_in(demo: Engine) -> None:
    """A message stored after later ones of its thread (another mailbox, a later page)
    changes their thread and reply credit: marking it and refreshing repairs them."""
    _, stream = generate("tiny", seed=7)
    records = {rec.source_key: rec for rec in stream}
    with demo.begin() as conn:
        later = select(Interaction.thread_key).where(Interaction.parent_key.is_not(None))
        early = _sample(
            conn,
            select(Interaction.source_key).where(
                Interaction.kind == Kind.EMAIL,
                Interaction.thread_key.in_(later),
                Interaction.parent_key.is_(None),
            ),
            15,
            3,
        )
        conn.execute(delete(Interaction).where(Interaction.source_key.in_(early)))
        rebuild_in(conn)  # the store as it was before those messages arrived
    Writer(demo, internal_domains=[DOMAIN]).write([records[key] for key in early])
    with demo.begin() as conn:
        late = conn.execute(select(Interaction.id).where(Interaction.source_key.in_(early)))
        stale.mark(conn, late.scalars())
        stale.refresh(conn)
        _assert_as_full_rebuild(conn)


def test_refresh_keeps_feedback_and_a_full_rebuild_clears_the_marks(demo: Engine) -> None:
    with demo.begin() as conn:
        pair = conn.execute(
            select(PairStrength.introducer_id, PairStrength.lead_id).order_by(
                PairStrength.n_total.desc(), PairStrength.introducer_id, PairStrength.lead_id
            )
        ).first()
        assert pair is not None
        lead = Participant.__table__.alias("lead")
        gone, *others = conn.execute(
            select(Participant.interaction_id)
            .join(lead, lead.c.interaction_id == Participant.interaction_id)
            .where(Participant.person_id == pair[0], lead.c.person_id == pair[1])
        ).scalars()
        conn.execute(
            update(PairStrength)
            .where(PairStrength.introducer_id == pair[0], PairStrength.lead_id == pair[1])
            .values(feedback_factor=0.25)
        )
        stale.mark(conn, [gone])
        conn.execute(delete(Interaction).where(Interaction.id == gone))
        assert tuple(pair) in set(conn.execute(select(StalePair.introducer_id, StalePair.lead_id)))
        stale.refresh(conn)
        kept = conn.execute(
            select(PairStrength.feedback_factor, PairStrength.n_total).where(
                PairStrength.introducer_id == pair[0], PairStrength.lead_id == pair[1]
            )
        ).one()
        assert kept.feedback_factor == 0.25 and kept.n_total > 0
        stale.mark(conn, others)
        assert stale.pending(conn)
        rebuild_in(conn)
        assert _count(conn, StalePair) == 0 and _count(conn, StaleThread) == 0


def test_an_opt_out_marks_what_others_counted_of_the_deleted_interactions(demo: Engine) -> None:
    """Deleting a colleague's data removes the meetings they organised and their place
    in others' audiences: other pairs counted those, and the refresh corrects them."""
    with Session(demo) as session, session.begin():
        busiest = session.execute(
            select(Participant.person_id)
            .join(Person, Person.id == Participant.person_id)
            .where(Person.internal, Participant.role == "organizer")
            .group_by(Participant.person_id)
            .order_by(func.count().desc(), Participant.person_id)
        ).scalar()
        assert busiest is not None
        forget_person(session, busiest)
        conn = session.connection()
        assert stale.pending(conn)
        stale.refresh(conn)
        _assert_as_full_rebuild(conn)


def test_a_rebuild_in_small_batches_credits_replies_to_earlier_batches(
    demo: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full rebuild looks up, batch by batch, the authors of the messages a batch
    replies to: with two interactions per batch nearly every reply's parent is in an
    earlier batch, and the result must not change."""
    with demo.connect() as conn:
        whole = _state(conn)
    monkeypatch.setattr("signals.rebuild._STREAM_BATCH", 4)
    rebuild_aggregates(demo)
    with demo.connect() as conn:
        assert _state(conn) == whole


def test_nothing_marked_refreshes_nothing(demo: Engine) -> None:
    with demo.begin() as conn:
        before = _state(conn)
        assert stale.refresh(conn) == stale.Refreshed(0, 0, 0)
        assert _state(conn) == before
