"""people.guest, people.excluded and group_members: who may ask, who is never analysed

``guest`` is Entra's ``userType`` Guest; ``excluded`` marks members of the groups in
WHOKNOWS_EXCLUDED_GROUPS. ``group_members`` holds the transitive members of the
groups in WHOKNOWS_ALLOWED_GROUPS and WHOKNOWS_EXCLUDED_GROUPS, synced with the
directory. A guest or an excluded colleague is never proposed, so the directory stamp's
update trigger (migration 0005) watches both columns too: it is recreated with them.
The columns are added in place (no table copy), so SQLite keeps its other triggers.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 07:20:00
"""

from __future__ import annotations

import importlib

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_stamp = importlib.import_module("signals.migrations.versions.0005_directory_stamp")
# The people columns a ranking shows or filters colleagues by (scoring/colleagues.py).
SHOWN = (*_stamp.SHOWN, "guest", "excluded")
TRIGGER = "directory_stamp_person_update"


def _update_trigger(shown: tuple[str, ...]) -> None:
    """(Re)create the people update trigger so that it watches ``shown``."""
    if op.get_bind().dialect.name == "sqlite":
        changed = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in shown)
        op.execute(f"DROP TRIGGER {TRIGGER}")
        op.execute(
            f"CREATE TRIGGER {TRIGGER} AFTER UPDATE ON people"
            f" WHEN (OLD.internal OR NEW.internal) AND ({changed})"
            " BEGIN UPDATE directory_stamp SET token = random(); END"
        )
        return
    changed = (
        f"({', '.join(f'OLD.{c}' for c in shown)}) IS DISTINCT FROM"
        f" ({', '.join(f'NEW.{c}' for c in shown)})"
    )
    op.execute(f"DROP TRIGGER {TRIGGER} ON people")
    op.execute(
        f"CREATE CONSTRAINT TRIGGER {TRIGGER} AFTER UPDATE ON people"
        " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW"
        f" WHEN ((OLD.internal OR NEW.internal) AND {changed})"
        " EXECUTE FUNCTION directory_stamp_person()"
    )


def upgrade() -> None:
    for column in ("guest", "excluded"):
        op.add_column(
            "people",
            sa.Column(column, sa.Boolean(), nullable=False, server_default=sa.false()),
        )
    op.create_table(
        "group_members",
        sa.Column("group_id", sa.String(length=64), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("group_id", "person_id"),
    )
    op.create_index(
        op.f("ix_group_members_person_id"), "group_members", ["person_id"], unique=False
    )
    _update_trigger(SHOWN)


def downgrade() -> None:
    _update_trigger(_stamp.SHOWN)
    op.drop_index(op.f("ix_group_members_person_id"), table_name="group_members")
    op.drop_table("group_members")
    # In place on both (SQLite 3.35+ drops a column without copying the table, so the
    # people triggers stay for 0005's downgrade).
    op.drop_column("people", "excluded")
    op.drop_column("people", "guest")
