"""directory_stamp: a token that changes with every change to the colleague directory

The ranking keeps the colleagues who may be proposed in memory
(scoring/colleagues.py) and reads this one-row table in the same statement as a
lead's pairs: a token other than the one it loaded with means a reload. Triggers,
not the code that writes people, replace the token, so no writer can forget it:
the importer, Graph and CRM sync, merge, opt-out and departure all write people
through different paths.

What counts is what a ranking shows or filters of a colleague (internal people
only): their row's shown columns and flags, and their addresses (the first is the
e-mail shown). The token is a random number, not a counter, so that a process's
cache never matches a store it was not loaded from (one re-created at the same
address, or cloned from a template), nor a value taken by a transaction that rolled
back.

On PostgreSQL the triggers are deferred to commit and replace the token once per
transaction: the stamp row's lock is then held for the commit only, after the
transaction's other locks, so writers cannot deadlock on it. SQLite has one writer
at a time and replaces it per changed row. SQLite drops a table's triggers with the
table: a later migration that recreates people or addresses there (batch mode) must
create them again (tests/test_colleague_cache.py checks they exist at head).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 05:10:00
"""

from __future__ import annotations

import random

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# The people columns a ranking shows or filters colleagues by (scoring/colleagues.py).
SHOWN = (
    "internal",
    "display_name",
    "title",
    "department",
    "phone",
    "upn",
    "entra_id",
    "enabled",
    "departed_at",
    "opted_out",
    "is_list",
    "is_shared",
    "is_automated",
)
# A shown column changed, in each dialect.
_SQLITE_CHANGED = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in SHOWN)
_PG_CHANGED = (
    f"({', '.join(f'OLD.{c}' for c in SHOWN)}) IS DISTINCT FROM"
    f" ({', '.join(f'NEW.{c}' for c in SHOWN)})"
)
_INTERNAL = "EXISTS (SELECT 1 FROM people WHERE id IN ({}) AND internal)"
# Trigger name -> (table, event, condition), created by upgrade and dropped by
# downgrade. SQLite: replaced per row.
SQLITE_TRIGGERS = {
    "directory_stamp_person_insert": ("people", "INSERT", "NEW.internal"),
    "directory_stamp_person_update": (
        "people",
        "UPDATE",
        f"(OLD.internal OR NEW.internal) AND ({_SQLITE_CHANGED})",
    ),
    "directory_stamp_person_delete": ("people", "DELETE", "OLD.internal"),
    "directory_stamp_address_insert": ("addresses", "INSERT", _INTERNAL.format("NEW.person_id")),
    "directory_stamp_address_update": (
        "addresses",
        "UPDATE OF email, person_id",
        _INTERNAL.format("OLD.person_id, NEW.person_id"),
    ),
    "directory_stamp_address_delete": ("addresses", "DELETE", _INTERNAL.format("OLD.person_id")),
}
# PostgreSQL: deferred, and run by a function; addresses check the person in theirs.
POSTGRESQL_TRIGGERS = {
    "directory_stamp_person_insert": ("people", "INSERT", "NEW.internal"),
    "directory_stamp_person_update": (
        "people",
        "UPDATE",
        f"(OLD.internal OR NEW.internal) AND {_PG_CHANGED}",
    ),
    "directory_stamp_person_delete": ("people", "DELETE", "OLD.internal"),
    "directory_stamp_address_change": (
        "addresses",
        "INSERT OR DELETE OR UPDATE OF email, person_id",
        None,
    ),
}


def _sqlite() -> None:
    for name, (table, event, condition) in SQLITE_TRIGGERS.items():
        op.execute(
            f"CREATE TRIGGER {name} AFTER {event} ON {table} WHEN {condition}"
            " BEGIN UPDATE directory_stamp SET token = random(); END"
        )


def _postgresql() -> None:
    # Once per transaction: later rows find the token already renewed by it.
    op.execute(
        """
        CREATE FUNCTION directory_stamp_renew() RETURNS void LANGUAGE sql AS $$
            UPDATE directory_stamp
               SET token = (random() * 9.2e18)::bigint, renewed_by = txid_current()
             WHERE renewed_by IS DISTINCT FROM txid_current()
        $$
        """
    )
    op.execute(
        """
        CREATE FUNCTION directory_stamp_person() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM directory_stamp_renew();
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        """
        CREATE FUNCTION directory_stamp_address() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP <> 'DELETE' THEN
                PERFORM FROM people WHERE id = NEW.person_id AND internal;
            END IF;
            IF TG_OP <> 'INSERT' AND NOT FOUND THEN
                PERFORM FROM people WHERE id = OLD.person_id AND internal;
            END IF;
            IF FOUND THEN
                PERFORM directory_stamp_renew();
            END IF;
            RETURN NULL;
        END $$
        """
    )
    for name, (table, event, condition) in POSTGRESQL_TRIGGERS.items():
        function = "directory_stamp_person" if table == "people" else "directory_stamp_address"
        when = f" WHEN ({condition})" if condition else ""
        op.execute(
            f"CREATE CONSTRAINT TRIGGER {name} AFTER {event} ON {table}"
            f" DEFERRABLE INITIALLY DEFERRED FOR EACH ROW{when} EXECUTE FUNCTION {function}()"
        )


def upgrade() -> None:
    op.create_table(
        "directory_stamp",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token", sa.BigInteger(), nullable=False),
        sa.Column("renewed_by", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    stamp = sa.table("directory_stamp", sa.column("id"), sa.column("token"))
    op.bulk_insert(stamp, [{"id": 1, "token": random.getrandbits(62)}])
    if op.get_bind().dialect.name == "sqlite":
        _sqlite()
    else:
        _postgresql()


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for name, (table, _, _) in (SQLITE_TRIGGERS if sqlite else POSTGRESQL_TRIGGERS).items():
        op.execute(f"DROP TRIGGER {name}" if sqlite else f"DROP TRIGGER {name} ON {table}")
    if not sqlite:
        for function in ("directory_stamp_address", "directory_stamp_person"):
            op.execute(f"DROP FUNCTION {function}()")
        op.execute("DROP FUNCTION directory_stamp_renew()")
    op.drop_table("directory_stamp")
