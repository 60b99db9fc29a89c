"""pair_strength keyed (lead_id, introducer_id), clustered by lead

A ranking reads one lead's pairs. Keyed by lead first, on SQLite as a table
without rowid (the table is then its primary key's B-tree), those rows sit
together and are read in one range scan, instead of one index entry and one
table lookup per pair. PostgreSQL keeps no order: there a full rebuild writes
the pairs in key order, and a fill factor of 80 leaves room in each page so
that an updated pair stays in its page (a HOT update). The separate lead index
goes; deleting a person (opt-out) finds their pairs as introducer through a new
introducer index.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 03:40:00
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _rekey(first: str, second: str, *, clustered: bool) -> None:
    if op.get_bind().dialect.name == "sqlite":
        # SQLite cannot change a primary key in place: batch mode copies the table.
        with op.batch_alter_table(
            "pair_strength", recreate="always", table_kwargs={"sqlite_with_rowid": not clustered}
        ) as batch_op:
            batch_op.create_primary_key("pk_pair_strength", [first, second])
    else:
        op.drop_constraint("pair_strength_pkey", "pair_strength", type_="primary")
        op.create_primary_key("pair_strength_pkey", "pair_strength", [first, second])
        fill = "SET (fillfactor = 80)" if clustered else "RESET (fillfactor)"
        op.execute(f"ALTER TABLE pair_strength {fill}")


def upgrade() -> None:
    _rekey("lead_id", "introducer_id", clustered=True)
    with op.batch_alter_table("pair_strength", schema=None) as batch_op:
        batch_op.drop_index("ix_pair_strength_lead_id")
        batch_op.create_index("ix_pair_strength_introducer_id", ["introducer_id"], unique=False)


def downgrade() -> None:
    _rekey("introducer_id", "lead_id", clustered=False)
    with op.batch_alter_table("pair_strength", schema=None) as batch_op:
        batch_op.drop_index("ix_pair_strength_introducer_id")
        batch_op.create_index("ix_pair_strength_lead_id", ["lead_id"], unique=False)
