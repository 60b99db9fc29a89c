"""The in-process colleague directory (scoring/colleagues.py): a change committed
through another engine (another replica) shows in the next ranking; changes a ranking
does not show leave the cache alone; writers never wait on the stamp."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Column, Engine, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.sql import visitors

from scoring.colleagues import COLLEAGUE_COLUMNS, PROPOSABLE
from scoring.ranking import rank
from signals import db
from signals.ingest import Writer, write_all
from signals.models import Kind, Person
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


def _token(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT token FROM directory_stamp")).scalar_one())


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
    assert _shown(engine, lead) == before  # the cache is warm
    sql, after = CHANGES[change]
    with replica.begin() as conn:
        conn.execute(text(sql), {"p": person_id(replica, TRICIA.email)})
    assert _shown(engine, lead) == after


def test_a_new_colleague_imported_on_another_replica_is_ranked(
    engine: Engine, replica: Engine
) -> None:
    """A colleague first seen in a message imported elsewhere is a new internal
    person: without the insert trigger the cache would drop her pair unseen."""
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


def test_changes_a_ranking_does_not_show_keep_the_token(engine: Engine) -> None:
    """Imports add external people and count sends all day: none of that may empty
    every replica's cache."""
    two_messages(engine)
    tricia = person_id(engine, TRICIA.email)
    token = _token(engine)
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE people SET mailbox_analysed_at = '2026-03-01 00:00:00' WHERE id = :p"),
            {"p": tricia},
        )
        conn.execute(text("UPDATE addresses SET sent_count = sent_count + 1"))
        conn.execute(text("UPDATE people SET display_name = 'Y. McKay' WHERE NOT internal"))
        conn.execute(text("UPDATE people SET display_name = display_name"))
        conn.execute(
            text(
                "INSERT INTO people (internal, display_name, name_key, enabled, opted_out,"
                " is_list, is_shared, is_automated)"
                " VALUES (false, 'Z', 'z', true, false, false, false, false)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO addresses (email, person_id, sent_count)"
                " SELECT 'z@fabrikam.com', id, 0 FROM people WHERE display_name = 'Z'"
            )
        )
    assert _token(engine) == token
    with engine.begin() as conn:
        conn.execute(text("UPDATE people SET title = 'CFO' WHERE id = :p"), {"p": tricia})
    assert _token(engine) != token


def test_a_rolled_back_change_leaves_no_stale_colleague(engine: Engine, replica: Engine) -> None:
    """A ranking inside a transaction that renames a colleague, which then rolls
    back, must not leave the new name in the cache: not as it is, nor once another
    change has renewed the token."""
    lead = two_messages(engine)
    tricia, bob = person_id(engine, TRICIA.email), person_id(engine, BOB.email)
    with Session(engine) as session:
        session.execute(
            text("UPDATE people SET display_name = 'Never Was' WHERE id = :p"), {"p": tricia}
        )
        rank(session, [lead], now=T0 + timedelta(days=1))
        session.rollback()
    assert _shown(engine, lead) == [("Bob Kelly", BOB.email), ("Tricia Potter", TRICIA.email)]
    with replica.begin() as conn:
        conn.execute(text("UPDATE people SET display_name = 'Bob K.' WHERE id = :p"), {"p": bob})
    assert _shown(engine, lead) == [("Bob K.", BOB.email), ("Tricia Potter", TRICIA.email)]


def test_writers_do_not_wait_on_the_stamp_before_commit(pg_url: str) -> None:
    """PostgreSQL: two transactions that both change colleagues overlap freely; the
    stamp row is locked only while each commits (deferred triggers)."""
    engine = db.open_store(pg_url)
    two_messages(engine)
    tricia, bob = person_id(engine, TRICIA.email), person_id(engine, BOB.email)
    token = _token(engine)
    rename = text("UPDATE people SET display_name = display_name || '!' WHERE id = :p")
    try:
        with engine.connect() as first, engine.connect() as second:
            first.execute(rename, {"p": tricia})  # not committed yet
            second.execute(text("SET lock_timeout = '2s'"))
            second.execute(rename, {"p": bob})
            second.commit()
            renewed = _token(engine)
            first.commit()
        assert token != renewed != _token(engine)
        with engine.begin() as conn:  # the renewal is the changing transaction's own
            conn.execute(text("UPDATE people SET title = 'VP' WHERE internal"))
            txid = conn.execute(text("SELECT txid_current()")).scalar_one()
        with engine.connect() as conn:
            assert conn.execute(text("SELECT renewed_by FROM directory_stamp")).scalar() == txid
    except OperationalError as exc:  # the lock timeout: a writer waited on the stamp
        pytest.fail(f"a writer waited: {exc}")
    finally:
        engine.dispose()


def test_the_stamp_triggers_exist_at_head(engine: Engine) -> None:
    """SQLite drops a table's triggers when a migration recreates the table: a later
    migration must create them again (see migration 0005)."""
    if engine.dialect.name == "sqlite":
        listed = "SELECT name FROM sqlite_master WHERE type = 'trigger'"
        expected = {
            f"directory_stamp_{table}_{event}"
            for table in ("person", "address")
            for event in ("insert", "update", "delete")
        }
    else:
        listed = "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"
        expected = {
            "directory_stamp_person_insert",
            "directory_stamp_person_update",
            "directory_stamp_person_delete",
            "directory_stamp_address_change",
        }
    with engine.connect() as conn:
        names = set(conn.execute(text(listed)).scalars())
    assert {n for n in names if n.startswith("directory_stamp_")} == expected


def test_the_triggers_watch_every_column_the_directory_reads() -> None:
    """A column added to what a ranking shows or filters by, and not to the triggers'
    list, would leave every replica showing its old value."""
    migration = importlib.import_module("signals.migrations.versions.0006_who_may_ask")
    people = Person.__table__
    read = {
        element.name
        for element in visitors.iterate(select(*COLLEAGUE_COLUMNS).where(*PROPOSABLE))
        if isinstance(element, Column) and element.table is people
    }
    assert "display_name" in read and "opted_out" in read
    assert read - {"id"} <= set(migration.SHOWN)
