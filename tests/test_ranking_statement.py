"""The ranking's read: one row per colleague with aware UTC times, the sums the database
adds equal to the Python reference, and driver errors as SQLAlchemy's, on both backends."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from scoring.ranking import (
    RANKING_COLUMNS,
    connections_for,
    rank,
    ranking_values,
    weight_values,
)
from scoring.strength import Weights
from signals import db
from signals.meta import read_facts
from signals.models import PairStrength, Person
from tests.small_store import T0, two_messages


def test_the_read_gives_one_row_per_colleague_with_aware_times(engine: Engine) -> None:
    lead = two_messages(engine)
    with Session(engine) as session:
        facts = read_facts(session)
        rows = connections_for(session, [lead], facts=facts, weights=Weights.from_settings())
        # A company's leads go through the same statement with an IN list.
        both = connections_for(session, [lead, lead], facts=facts, weights=Weights.from_settings())
    assert len(rows) == 2
    assert sorted(map(tuple, both)) == sorted(map(tuple, rows))
    times = [v for row in rows for v in row if isinstance(v, datetime)]
    assert times and all(t.utcoffset() == timedelta(0) for t in times)
    assert T0 in times  # microseconds kept


def _pair(introducer: int, lead: int, k: int, **times: datetime | None) -> PairStrength:
    """A stored pair with distinct, awkward values in every column."""
    row = PairStrength(introducer_id=introducer, lead_id=lead, feedback_factor=0.6)
    for i, column in enumerate(PairStrength.__table__.c.keys()):
        if column.startswith("d_"):
            setattr(row, column, (k + 1) * 0.1 + i / 7)
        elif column.startswith("n_"):
            setattr(row, column, k * 3 + i)
    stamps = {"first_at": T0, "last_at": T0 + timedelta(days=40)} | times
    for column, at in stamps.items():
        setattr(row, column, at)
    return row


def test_the_database_sums_equal_the_python_reference(engine: Engine) -> None:
    """Weighted sums (with weights that are not the defaults), evidence sums and the
    last two-way contact in each of its cases: none, one side only, mutual later or
    earlier than mail both ways."""
    day = timedelta(days=1)
    cases: list[dict[str, datetime | None]] = [
        {"last_out_at": None, "last_in_at": None, "last_mutual_at": None},
        {"last_out_at": T0 + 3 * day, "last_in_at": None, "last_mutual_at": None},
        {"last_out_at": None, "last_in_at": T0, "last_mutual_at": T0 + 2 * day},
        {"last_out_at": T0 + 5 * day, "last_in_at": T0 + 4 * day, "last_mutual_at": None},
        {"last_out_at": T0 + 4 * day, "last_in_at": T0 + 5 * day, "last_mutual_at": T0 + day},
        {"last_out_at": T0 + 4 * day, "last_in_at": T0 + 5 * day, "last_mutual_at": T0 + 9 * day},
    ]
    w = Weights.from_settings()
    w = Weights(**{**vars(w), "to": 1.3, "cc": 0.7, "reply": 2.1, "thread": 0.11, "chat": 0.9})
    with Session(engine) as session:
        people = [Person(display_name=f"P{i}", internal=i > 0) for i in range(len(cases) + 1)]
        session.add_all(people)
        session.flush()
        lead = people[0].id
        pairs = [
            _pair(p.id, lead, k, **case)
            for k, (p, case) in enumerate(zip(people[1:], cases, strict=True))
        ]
        session.add_all(pairs)
        session.commit()
        read = session.execute(
            select(*RANKING_COLUMNS).where(PairStrength.lead_id == lead), weight_values(w)
        ).all()
        session.expire_all()
        expected = {
            p.introducer_id: ranking_values(
                session.get(PairStrength, (p.lead_id, p.introducer_id)), w
            )
            for p in pairs
        }
    assert {row.introducer_id: row._asdict() for row in read} == expected
    assert len(read) == len(cases)


def test_a_broken_store_raises_sqlalchemy_errors(engine: Engine) -> None:
    lead = two_messages(engine)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE pair_strength"))
    with Session(engine) as session, pytest.raises(DBAPIError):
        rank(session, [lead], now=T0)


def test_a_lost_connection_is_invalidated(pg_url: str) -> None:
    """A PostgreSQL backend killed under the ranking: the error says so and the pool
    does not hand the dead connection out again."""
    engine = db.open_store(pg_url)
    lead = two_messages(engine)
    with Session(engine) as session:
        facts = read_facts(session)  # so that the ranking's own read meets the dead link
        pid = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
        with engine.connect() as other:
            other.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
        with pytest.raises(DBAPIError) as caught:
            rank(session, [lead], now=T0, facts=facts)
        assert caught.value.connection_invalidated
    with Session(engine) as session:  # a fresh connection works
        ranked, _ = rank(session, [lead], now=T0 + timedelta(days=1))
        assert ranked
    engine.dispose()
