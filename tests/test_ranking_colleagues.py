"""The colleagues a ranking shows are read with its pairs: a change committed through
another engine (another replica) shows in the very next ranking."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from scoring.ranking import rank
from signals import db
from signals.ingest import Writer, write_all
from signals.models import Kind
from signals.records import InteractionRecord, Party
from tests.small_store import BOB, LEAD, T0, TRICIA, person_id, two_messages


def _shown(engine: Engine, lead: int) -> list[tuple[str, str | None]]:
    with Session(engine) as session:
        ranked, _ = rank(session, [lead], now=T0 + timedelta(days=1))
    return sorted((c.person.display_name, c.email) for c in ranked)


@pytest.fixture
def replica(engine: Engine) -> Iterator[Engine]:
    """A second engine on the same store, as another bot replica has."""
    other = db.make_engine(engine.url.render_as_string(hide_password=False))
    yield other
    other.dispose()


TRICIA_FIRST = "SELECT min(id) FROM addresses WHERE person_id = :p"
CHANGES = {
    "renamed": (
        "UPDATE people SET display_name = 'Tricia Potter-Ng' WHERE id = :p",
        [("Bob Kelly", BOB.email), ("Tricia Potter-Ng", TRICIA.email)],
    ),
    "opted out": (
        "UPDATE people SET opted_out = true WHERE id = :p",
        [("Bob Kelly", BOB.email)],
    ),
    "departed": (
        "UPDATE people SET departed_at = '2026-03-01 00:00:00' WHERE id = :p",
        [("Bob Kelly", BOB.email)],
    ),
    "disabled": ("UPDATE people SET enabled = false WHERE id = :p", [("Bob Kelly", BOB.email)]),
    "found to be a list": (
        "UPDATE people SET is_list = true WHERE id = :p",
        [("Bob Kelly", BOB.email)],
    ),
    "new primary address": (
        f"UPDATE addresses SET email = 'tp@contoso.com' WHERE id = ({TRICIA_FIRST})",
        [("Bob Kelly", BOB.email), ("Tricia Potter", "tp@contoso.com")],
    ),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_a_change_on_another_replica_shows_in_the_next_ranking(
    engine: Engine, replica: Engine, change: str
) -> None:
    lead = two_messages(engine)
    before = [("Bob Kelly", BOB.email), ("Tricia Potter", TRICIA.email)]
    assert _shown(engine, lead) == before
    sql, after = CHANGES[change]
    with replica.begin() as conn:
        conn.execute(text(sql), {"p": person_id(replica, TRICIA.email)})
    assert _shown(engine, lead) == after


def test_a_new_colleague_imported_on_another_replica_is_ranked(
    engine: Engine, replica: Engine
) -> None:
    lead = two_messages(engine)
    assert len(_shown(engine, lead)) == 2
    carol = Party("carol.diaz@contoso.com", "Carol Diaz")
    write_all(
        Writer(replica),
        [InteractionRecord(Kind.EMAIL, "<c@x>", T0 + timedelta(hours=3), LEAD, to=[carol])],
    )
    assert ("Carol Diaz", carol.email) in _shown(engine, lead)


def test_a_colleague_who_rejoins_and_a_new_first_address_show(
    engine: Engine, replica: Engine
) -> None:
    lead = two_messages(engine)
    tricia = person_id(engine, TRICIA.email)
    with replica.begin() as conn:
        conn.execute(text("UPDATE people SET opted_out = true WHERE id = :p"), {"p": tricia})
    assert _shown(engine, lead) == [("Bob Kelly", BOB.email)]
    with replica.begin() as conn:
        conn.execute(text("UPDATE people SET opted_out = false WHERE id = :p"), {"p": tricia})
        # Her first address goes; the next one is then the e-mail shown.
        conn.execute(
            text("INSERT INTO addresses (email, person_id, sent_count) VALUES ('t@c.com', :p, 0)"),
            {"p": tricia},
        )
        conn.execute(text(f"DELETE FROM addresses WHERE id = ({TRICIA_FIRST})"), {"p": tricia})
    assert _shown(engine, lead) == [("Bob Kelly", BOB.email), ("Tricia Potter", "t@c.com")]


def test_a_rolled_back_change_leaves_no_stale_colleague(engine: Engine, replica: Engine) -> None:
    """A ranking inside a transaction that renames a colleague shows the new name
    there; once it rolls back, the next ranking shows the committed one."""
    lead = two_messages(engine)
    tricia, bob = person_id(engine, TRICIA.email), person_id(engine, BOB.email)
    with Session(engine) as session:
        session.execute(
            text("UPDATE people SET display_name = 'Never Was' WHERE id = :p"), {"p": tricia}
        )
        ranked, _ = rank(session, [lead], now=T0 + timedelta(days=1))
        assert "Never Was" in {c.person.display_name for c in ranked}
        session.rollback()
    assert _shown(engine, lead) == [("Bob Kelly", BOB.email), ("Tricia Potter", TRICIA.email)]
    with replica.begin() as conn:
        conn.execute(text("UPDATE people SET display_name = 'Bob K.' WHERE id = :p"), {"p": bob})
    assert _shown(engine, lead) == [("Bob K.", BOB.email), ("Tricia Potter", TRICIA.email)]
