"""sync_state: failures in a row and the time of the next retry

A source or mailbox that fails is retried with exponential backoff and jitter
instead of at every run: ``failures`` counts the failures since its last success
and ``retry_at`` is when a worker may claim it again (NULL: at once).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 07:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sync_state", schema=None) as batch_op:
        batch_op.add_column(sa.Column("failures", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("retry_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sync_state", schema=None) as batch_op:
        batch_op.drop_column("retry_at")
        batch_op.drop_column("failures")
