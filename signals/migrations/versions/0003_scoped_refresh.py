"""stale pairs and threads, interactions by parent

A removed message, or one that arrives after a later message of its thread,
used to make the whole aggregate table stale. Now it marks the pairs and
threads it touched, and the refresh recomputes only those (signals.stale);
finding a message's replies needs interactions indexed by parent_key.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 00:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stale_pairs",
        sa.Column("introducer_id", sa.Integer(), nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["introducer_id"], ["people.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["lead_id"], ["people.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("introducer_id", "lead_id"),
    )
    op.create_table(
        "stale_threads",
        sa.Column("thread_key", sa.String(length=500), nullable=False),
        sa.PrimaryKeyConstraint("thread_key"),
    )
    with op.batch_alter_table("interactions", schema=None) as batch_op:
        batch_op.create_index("ix_interactions_parent", ["parent_key"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("interactions", schema=None) as batch_op:
        batch_op.drop_index("ix_interactions_parent")
    op.drop_table("stale_threads")
    op.drop_table("stale_pairs")
