"""addresses indexed by (person_id, id)

A ranking shows each colleague's primary e-mail (their first address); with
the id in the index that is one index entry per colleague instead of a sort.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 20:30:00
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("addresses", schema=None) as batch_op:
        batch_op.create_index("ix_addresses_person_first", ["person_id", "id"], unique=False)
        batch_op.drop_index("ix_addresses_person_id")


def downgrade() -> None:
    with op.batch_alter_table("addresses", schema=None) as batch_op:
        batch_op.create_index("ix_addresses_person_id", ["person_id"], unique=False)
        batch_op.drop_index("ix_addresses_person_first")
