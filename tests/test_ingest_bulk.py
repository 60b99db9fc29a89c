"""The bulk writer's fast paths store exactly what the plain definitions say.

The Writer sends its big inserts straight to the driver (executemany on SQLite,
binary COPY and ``unnest`` on PostgreSQL) and aggregates with a tuned loop; these
tests hold it to the slow, obvious answers: a rebuild from the stored
interactions, participant rows read back, sums added in SQL.
"""

from __future__ import annotations

import gc
import math
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, update
from sqlalchemy.dialects import sqlite

from signals import rebuild
from signals.aggregate import PairDelta
from signals.ingest import Writer, upsert_pairs, write_all
from signals.models import (
    Kind,
    PairStrength,
    Participant,
    Person,
    Response,
    ThreadMember,
    UTCDateTime,
    sqlite_time,
)
from signals.rebuild import rebuild_aggregates
from signals.records import Attendee, InteractionRecord, Party

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
COLLEAGUES = [Party(f"colleague{i}@contoso.com", f"Colleague {i}") for i in range(6)]
CONTACTS = [Party(f"contact{i}@client{i % 3}.example", f"Contact {i}") for i in range(9)]
EVERYONE = COLLEAGUES + CONTACTS
RESPONSES = [Response.ACCEPTED, Response.TENTATIVE, Response.DECLINED, Response.NONE]


def _records(n: int, seed: int = 3) -> list[InteractionRecord]:
    """Every shape the writer treats specially, in a seeded mix."""
    rng = random.Random(seed)
    out: list[InteractionRecord] = []
    sent: list[tuple[str, str]] = []  # (message id, thread)
    for i in range(n):
        at = T0 + timedelta(hours=5 * i, seconds=i % 7)
        author = rng.choice(EVERYONE)
        others = rng.sample([p for p in EVERYONE if p != author], 4)
        roll = i % 8
        if roll in (0, 1, 2):  # mail, some replies (also across batches), repeated recipients
            parent = rng.choice(sent) if sent and roll == 1 else None
            key = f"<m{i}@test>"
            thread = parent[1] if parent else key
            out.append(
                InteractionRecord(
                    Kind.EMAIL,
                    key,
                    at,
                    author,
                    sent_by=COLLEAGUES[0] if roll == 2 else None,
                    to=[others[0], others[0], others[1]],
                    cc=[others[2], author],
                    bcc=[others[3]] if roll == 0 else [],
                    thread_key=thread,
                    parent_key=parent[0] if parent else None,
                    mailbox=author.email if roll == 2 else None,
                )
            )
            sent.append((key, thread))
        elif roll == 3:  # bulk and automated mail: counted, never weighted
            out.append(
                InteractionRecord(
                    Kind.EMAIL,
                    f"<bulk{i}@test>",
                    at,
                    Party("no-reply@contoso.com") if i % 2 else author,
                    to=others,
                    bulk=bool(i % 2 == 0),
                    automated=True,
                )
            )
        elif roll == 4:  # a meeting with every kind of response, sometimes cancelled
            out.append(
                InteractionRecord(
                    Kind.MEETING,
                    f"ev{i}",
                    at,
                    author,
                    attendees=[Attendee(p.email, p.name, rng.choice(RESPONSES)) for p in others],
                    cancelled=i % 3 == 0,
                    duration_seconds=1800,
                )
            )
        elif roll == 5:  # calls, short ones ignored
            out.append(
                InteractionRecord(
                    Kind.CALL,
                    f"call{i}",
                    at,
                    author,
                    attendees=[Attendee(others[0].email, "", Response.ACCEPTED)],
                    duration_seconds=rng.choice([30, 600]),
                )
            )
        elif roll == 6:  # a chat that lists its author among the members too
            members = [author, *others[:2]]
            out.append(
                InteractionRecord(
                    Kind.CHAT,
                    f"chat{i}",
                    at,
                    author,
                    attendees=[Attendee(p.email, p.name) for p in members],
                )
            )
        else:  # the same message twice in one batch
            rec = InteractionRecord(Kind.EMAIL, f"<d{i}@test>", at, author, to=others[:1])
            out.extend([rec, rec])
    return out


def _rows(engine: Engine, table: Any, order: Any) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(table).order_by(*order))]


def _assert_same_pairs(got: list[dict[str, Any]], want: list[dict[str, Any]]) -> None:
    assert [(r["introducer_id"], r["lead_id"]) for r in got] == [
        (r["introducer_id"], r["lead_id"]) for r in want
    ]
    for g, w in zip(got, want, strict=True):
        for column, value in w.items():
            if isinstance(value, float):  # summed per batch vs in one pass
                assert math.isclose(g[column], value, rel_tol=1e-12), (column, g, w)
            else:
                assert g[column] == value, (column, g, w)


def test_a_rebuild_runs_while_another_statement_of_its_transaction_is_open(
    engine: Engine,
) -> None:
    """A rebuild inside a caller's transaction (the stale refresh's fallback) may find a
    statement of that connection still open; its spill table must not need it closed
    (SQLite will not drop a table then: "database table is locked"), and works again on
    the same connection."""
    write_all(Writer(engine, internal_domains=["contoso.com"]), _records(60), 40)
    with engine.begin() as conn:
        first = rebuild.rebuild_in(conn)
        open_rows = conn.execute(select(Person.id)).cursor
        assert open_rows is not None and open_rows.fetchone() is not None  # left open
        assert rebuild.rebuild_in(conn) == first > 0
        open_rows.close()


def test_batched_writes_match_a_rebuild_from_the_stored_interactions(engine: Engine) -> None:
    records = _records(160)
    first = write_all(Writer(engine, internal_domains=["contoso.com"]), records[:100], 7)
    again = write_all(Writer(engine, internal_domains=["contoso.com"]), records[60:], 11)
    assert first.new_interactions + again.new_interactions == len({r.source_key for r in records})
    assert first.duplicates == 100 - len({r.source_key for r in records[:100]}) > 0
    pair_order = (PairStrength.introducer_id, PairStrength.lead_id)
    written = _rows(engine, PairStrength, pair_order)
    threads = _rows(engine, ThreadMember, (ThreadMember.thread_key, ThreadMember.person_id))
    assert len(written) > 50
    assert any(r["n_ignored"] for r in written) and any(r["d_meeting"] for r in written)
    assert any(r["d_out_reply"] for r in written) and any(r["d_in_thread"] for r in written)

    rebuild_aggregates(engine)
    _assert_same_pairs(written, _rows(engine, PairStrength, pair_order))
    assert threads == _rows(engine, ThreadMember, (ThreadMember.thread_key, ThreadMember.person_id))


def test_a_rebuild_in_small_bounds_equals_one_in_a_single_batch(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rebuild's memory bounds (a few events per batch, a few pairs before each
    spill) change nothing it writes: thread members read back across batches, pairs
    summed from several spills, feedback put back."""
    write_all(Writer(engine, internal_domains=["contoso.com"]), _records(160), 40)
    pair_order = (PairStrength.introducer_id, PairStrength.lead_id)
    member_order = (ThreadMember.thread_key, ThreadMember.person_id)
    monkeypatch.setattr(rebuild, "EVENT_BATCH", 1_000_000)
    monkeypatch.setattr(rebuild, "PAIR_SPILL", 1_000_000)
    with engine.begin() as conn:
        assert rebuild.rebuild_in(conn) == conn.scalar(
            select(func.count()).select_from(PairStrength)
        )
        lowered = conn.execute(select(PairStrength.introducer_id, PairStrength.lead_id)).first()
        assert lowered is not None
        conn.execute(
            update(PairStrength)
            .where(PairStrength.introducer_id == lowered[0], PairStrength.lead_id == lowered[1])
            .values(feedback_factor=0.5)
        )
    whole = _rows(engine, PairStrength, pair_order)
    members = _rows(engine, ThreadMember, member_order)
    assert any(r["d_in_thread"] for r in whole) and len(members) > 20

    monkeypatch.setattr(rebuild, "EVENT_BATCH", 3)
    monkeypatch.setattr(rebuild, "PAIR_SPILL", 5)
    assert rebuild.rebuild_aggregates(engine) == len(whole)
    _assert_same_pairs(_rows(engine, PairStrength, pair_order), whole)
    assert _rows(engine, ThreadMember, member_order) == members
    with engine.connect() as conn:
        factors = conn.execute(select(PairStrength.feedback_factor)).scalars().all()
    assert sorted(factors)[:2] == [0.5, 1.0]


def test_participants_are_one_row_per_person_and_role(engine: Engine) -> None:
    author, contact, other = COLLEAGUES[1], CONTACTS[0], CONTACTS[1]
    records = [
        InteractionRecord(
            Kind.EMAIL,
            "<p1@test>",
            T0,
            author,
            sent_by=COLLEAGUES[2],
            to=[contact, contact, other],
            cc=[contact, author],
            bcc=[other],
        ),
        InteractionRecord(
            Kind.CHAT,
            "chat-p2",
            T0 + timedelta(hours=1),
            author,
            attendees=[Attendee(author.email), Attendee(contact.email), Attendee(contact.email)],
        ),
        InteractionRecord(
            Kind.MEETING,
            "ev-p3",
            T0 + timedelta(hours=2),
            author,
            attendees=[
                Attendee(author.email, "", Response.ACCEPTED),
                Attendee(other.email, "", Response.DECLINED),
            ],
        ),
    ]
    write_all(Writer(engine, internal_domains=["contoso.com"]), records)
    with engine.connect() as conn:
        name_of = {pid: name for pid, name in conn.execute(select(Person.id, Person.display_name))}
        rows = conn.execute(
            select(
                Participant.interaction_id,
                Participant.person_id,
                Participant.role,
                Participant.response,
            ).order_by(Participant.interaction_id, Participant.role, Participant.person_id)
        ).all()
    got = sorted((iid, name_of[pid], role, response) for iid, pid, role, response in rows)
    a, c, o, s = (p.name for p in (author, contact, other, COLLEAGUES[2]))
    assert got == sorted(
        [
            (1, a, "from", "none"),
            (1, s, "sender", "none"),
            (1, c, "to", "none"),
            (1, o, "to", "none"),
            (1, c, "cc", "none"),
            (1, a, "cc", "none"),
            (1, o, "bcc", "none"),
            (2, a, "member", "none"),
            (2, c, "member", "none"),
            (3, a, "organizer", "organizer"),
            (3, a, "attendee", "accepted"),
            (3, o, "attendee", "declined"),
        ]
    )


def _delta(count: int, at: datetime | None, weight: float) -> PairDelta:
    delta = PairDelta()
    delta.d[0] = weight
    delta.n[0] = count
    delta.n_total = count
    delta.first_at = at
    delta.last_at = at
    delta.last_out_at = at
    return delta


@pytest.fixture
def two_people(engine: Engine) -> Iterator[tuple[int, int]]:
    write_all(
        Writer(engine, internal_domains=["contoso.com"]),
        [InteractionRecord(Kind.EMAIL, "<seed@test>", T0, COLLEAGUES[0], to=[CONTACTS[0]])],
    )
    with engine.connect() as conn:
        pair = conn.execute(select(PairStrength.introducer_id, PairStrength.lead_id)).one()
    yield pair[0], pair[1]


def test_upserts_add_up_within_one_transaction(engine: Engine, two_people: tuple[int, int]) -> None:
    key = two_people
    with engine.connect() as conn:
        before = conn.execute(select(PairStrength)).one()._asdict()
    earlier, later = T0 - timedelta(days=3), T0 + timedelta(days=3)
    with engine.begin() as conn:  # twice in one transaction: the second must not see the first
        upsert_pairs(conn, {key: _delta(2, earlier, 0.25)})
        upsert_pairs(conn, {key: _delta(3, later, 0.5)})
        upsert_pairs(conn, {key: _delta(1, None, 0.125)})  # no time: keeps the stored ones
    with engine.connect() as conn:
        after = conn.execute(select(PairStrength)).one()._asdict()
    assert after["n_total"] == before["n_total"] + 6
    assert after["n_out_to"] == before["n_out_to"] + 6
    assert after["d_out_to"] == before["d_out_to"] + 0.25 + 0.5 + 0.125
    assert (after["first_at"], after["last_at"], after["last_out_at"]) == (earlier, later, later)
    assert after["last_in_at"] is None and after["feedback_factor"] == 1.0


def test_a_failed_batch_leaves_the_collector_as_it_was(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = Writer(engine, internal_domains=["contoso.com"])
    assert gc.isenabled()

    def broken(*_args: Any) -> None:
        raise RuntimeError("broken")

    monkeypatch.setattr(Writer, "_mark_senders", broken)
    with pytest.raises(RuntimeError):
        writer.write(_records(8))
    assert gc.isenabled() and writer.known == {}
    monkeypatch.undo()
    gc.disable()
    try:
        stats = writer.write(_records(8))
        assert not gc.isenabled()  # a caller's choice is kept
    finally:
        gc.enable()
    assert stats.new_interactions == 8
    assert {"participants insert", "pair upsert (rows, SQL)", "commit"} <= set(writer.timings)


def test_sqlite_times_are_stored_as_the_column_type_would_store_them() -> None:
    """The store's own SQLite conversion writes what SQLAlchemy's generic one would."""
    dialect = sqlite.dialect()
    column = UTCDateTime()
    assert column.dialect_impl(dialect).bind_processor(dialect) is sqlite_time
    generic: Any = sqlite.DATETIME().bind_processor(dialect)  # type: ignore[no-untyped-call]

    def processor(value: datetime) -> Any:
        return generic(column.process_bind_param(value, dialect))

    values = [
        T0,
        T0 + timedelta(microseconds=7),
        datetime(2025, 6, 1, 23, 30, tzinfo=timezone(timedelta(hours=-5))),  # next day in UTC
        datetime(2025, 6, 1, 12, 0, 0, 120000),  # naive: taken as UTC
        datetime(999, 1, 1, tzinfo=UTC),
    ]
    assert [sqlite_time(v) for v in values] == [processor(v) for v in values]
