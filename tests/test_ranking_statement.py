"""The ranking's driver-level read gives what SQLAlchemy's execution gives, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from scoring.ranking import _QUERIES, _SINGLE, rank
from signals import db
from signals.ingest import Writer, write_all
from signals.meta import read_facts
from signals.models import Kind
from signals.records import InteractionRecord, Party

T0 = datetime(2026, 3, 2, 9, 0, 0, 250000, tzinfo=UTC)
LEAD = Party("yvonne.mckay@fourthcoffee.com", "Yvonne McKay")
TRICIA = Party("tricia.potter@contoso.com", "Tricia Potter")
BOB = Party("bob.kelly@contoso.com", "Bob Kelly")


def _store(engine: Engine) -> int:
    write_all(
        Writer(engine),
        [
            InteractionRecord(Kind.EMAIL, "<a@x>", T0, TRICIA, to=[LEAD], thread_key="t"),
            InteractionRecord(
                Kind.EMAIL,
                "<b@x>",
                T0 + timedelta(hours=2),
                LEAD,
                to=[TRICIA, BOB],
                parent_key="<a@x>",
            ),
        ],
    )
    with engine.connect() as conn:
        lead = conn.execute(
            text("SELECT person_id FROM addresses WHERE email = :e"), {"e": LEAD.email}
        ).scalar_one()
    return int(lead)


def test_driver_rows_equal_sqlalchemy_rows(engine: Engine) -> None:
    lead = _store(engine)
    with Session(engine) as session:
        internal = read_facts(session).pair_mode == "internal"
        conn = session.connection()
        fast = _SINGLE[internal].rows(conn, {"lead": lead})
        slow = [tuple(r) for r in conn.execute(_QUERIES[internal, True], {"lead": lead})]
    assert sorted(map(tuple, fast)) == sorted(slow)
    assert len(fast) == 2
    times = [v for row in fast for v in row if isinstance(v, datetime)]
    assert times and all(t.utcoffset() == timedelta(0) for t in times)
    assert T0 in times  # microseconds kept


def test_a_broken_store_raises_sqlalchemy_errors(engine: Engine) -> None:
    lead = _store(engine)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE pair_strength"))
    with Session(engine) as session, pytest.raises(DBAPIError):
        rank(session, [lead], now=T0)


def test_a_lost_connection_is_invalidated(pg_url: str) -> None:
    """A PostgreSQL backend killed under the ranking: the error says so and the pool
    does not hand the dead connection out again."""
    engine = db.open_store(pg_url)
    lead = _store(engine)
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
