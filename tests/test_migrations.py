"""The migrations build exactly the schema the models declare, on both backends, and the
pair table keeps a lead's pairs together."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, select

from signals import db, rebuild
from signals.ingest import Writer, write_all
from signals.models import Base, Kind, PairStrength
from signals.records import InteractionRecord, Party

T0 = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
ANN = Party("ann@contoso.com", "Ann")
BOB = Party("bob@contoso.com", "Bob")
LEAD = Party("lea@fabrikam.com", "Lea")
OTHER = Party("otto@fabrikam.com", "Otto")


def test_migrated_schema_matches_the_models(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    assert diff == [], diff
    assert db.current_revision(engine) == db.head_revision(engine)


# Columns added after 0003 (migration 0011), absent once the test has gone back there.
_LATER_COLUMNS = {"d_ignored", "n_bulk", "n_crowd"}


def _pairs(engine: Engine) -> list[tuple[Any, ...]]:
    columns = [c for c in PairStrength.__table__.c if c.name not in _LATER_COLUMNS]
    with engine.connect() as conn:
        rows = conn.execute(select(*columns).order_by("lead_id", "introducer_id"))
        return [tuple(row) for row in rows]


def _reloptions(engine: Engine) -> Any:
    with engine.connect() as conn:
        return conn.exec_driver_sql(
            "SELECT reloptions FROM pg_class WHERE relname = 'pair_strength'"
        ).scalar()


def test_pairs_are_keyed_by_lead_first_and_survive_a_downgrade(engine: Engine) -> None:
    """Migration 0004: a ranking reads one lead's pairs through the primary key (on
    SQLite the table is that key's B-tree); going back to 0003 and up again keeps
    every row."""
    write_all(
        Writer(engine),
        [
            InteractionRecord(Kind.EMAIL, f"<{i}@x>", T0 + timedelta(hours=i), sender, to=to)
            for i, (sender, to) in enumerate(
                [(ANN, [LEAD, OTHER]), (LEAD, [ANN, BOB]), (BOB, [OTHER]), (OTHER, [ANN])]
            )
        ],
    )
    before = _pairs(engine)
    assert len(before) >= 4
    key = inspect(engine).get_pk_constraint("pair_strength")["constrained_columns"]
    assert key == ["lead_id", "introducer_id"]
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            plan = " ".join(
                str(row[-1])
                for row in conn.exec_driver_sql(
                    "EXPLAIN QUERY PLAN SELECT * FROM pair_strength WHERE lead_id = 1"
                )
            )
        assert "PRIMARY KEY (lead_id=?)" in plan
    else:  # room left in each page, so that an updated pair stays in its page
        assert _reloptions(engine) == ["fillfactor=80"]
    command.downgrade(db.alembic_config(engine), "0003")
    if engine.dialect.name == "postgresql":
        assert _reloptions(engine) is None
    key = inspect(engine).get_pk_constraint("pair_strength")["constrained_columns"]
    assert key == ["introducer_id", "lead_id"]
    assert _pairs(engine) == before
    db.upgrade(engine)
    assert _pairs(engine) == before
    test_migrated_schema_matches_the_models(engine)


def test_a_full_rebuild_writes_pairs_in_key_order(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL keeps a table in no order: the rebuild (which ends a tenant's first
    back-fill) writes one lead's pairs next to each other, for the ranking to read,
    across its chunks too."""
    monkeypatch.setattr(rebuild, "_WRITE_CHUNK", 3)
    engine = db.open_store(pg_url)
    leads = [Party(f"lead{i}@fabrikam.com", f"Lead {i}") for i in range(6)]
    for n, sender in enumerate((ANN, BOB)):  # two imports: Ann's mail, then Bob's
        write_all(
            Writer(engine),
            [
                InteractionRecord(
                    Kind.EMAIL, f"<{n}.{i}@x>", T0 + timedelta(hours=i), sender, to=[lead]
                )
                for i, lead in enumerate(leads)
            ],
        )
    query = "SELECT lead_id, introducer_id FROM pair_strength ORDER BY ctid"
    with engine.connect() as conn:
        written = [tuple(row) for row in conn.exec_driver_sql(query)]
    assert written != sorted(written)  # the import wrote them as they came
    rebuild.rebuild_aggregates(engine)
    with engine.connect() as conn:
        rebuilt = [tuple(row) for row in conn.exec_driver_sql(query)]
    assert rebuilt == sorted(written)
    engine.dispose()


def test_left_out_evidence_columns_survive_a_downgrade(engine: Engine) -> None:
    """Migration 0011: the left-out counts come and go without touching the pairs."""
    write_all(
        Writer(engine),
        [InteractionRecord(Kind.EMAIL, "<a@x>", T0, ANN, to=[LEAD], bulk=True)],
    )
    before = _pairs(engine)
    with engine.connect() as conn:
        ignored = conn.execute(select(PairStrength.n_bulk, PairStrength.d_ignored)).all()
    assert ignored and all(n == 1 and d > 0 for n, d in ignored)
    command.downgrade(db.alembic_config(engine), "0005")
    assert not _LATER_COLUMNS & {c["name"] for c in inspect(engine).get_columns("pair_strength")}
    assert _pairs(engine) == before
    db.upgrade(engine)
    test_migrated_schema_matches_the_models(engine)


def _stamp_objects(engine: Engine) -> tuple[set[str], set[str]]:
    """The directory stamp's triggers and tables (migration 0005, removed by 0008)."""
    if engine.dialect.name == "sqlite":
        listed = "SELECT name FROM sqlite_master WHERE type = 'trigger'"
    else:
        listed = "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"
    with engine.connect() as conn:
        triggers = {n for n in conn.exec_driver_sql(listed).scalars() if "directory_stamp" in n}
    tables = {t for t in inspect(engine).get_table_names() if t == "directory_stamp"}
    return triggers, tables


def test_the_directory_stamp_goes_and_comes_back_with_a_downgrade(engine: Engine) -> None:
    """Migration 0008 drops 0005's stamp, triggers and functions; a downgrade makes
    them again, and they renew the token when a colleague is renamed."""
    write_all(Writer(engine), [InteractionRecord(Kind.EMAIL, "<1@x>", T0, ANN, to=[LEAD])])
    assert _stamp_objects(engine) == (set(), set())
    command.downgrade(db.alembic_config(engine), "0005")
    triggers, tables = _stamp_objects(engine)
    assert tables == {"directory_stamp"}
    assert len(triggers) == (6 if engine.dialect.name == "sqlite" else 4)
    token = "SELECT token FROM directory_stamp"
    with engine.connect() as conn:
        before = conn.exec_driver_sql(token).scalar_one()
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE people SET display_name = 'Ann B' WHERE internal")
    with engine.connect() as conn:
        assert conn.exec_driver_sql(token).scalar_one() != before
    db.upgrade(engine)
    assert _stamp_objects(engine) == (set(), set())
    test_migrated_schema_matches_the_models(engine)
