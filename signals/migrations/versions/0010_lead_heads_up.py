"""CRM record owners, new-lead heads-ups and the colleagues' notification choice

``crm_records.owner_id`` is the colleague a lead is assigned to. ``lead_heads_ups`` holds
one row per (lead record, owner): the CRM sync inserts it in the transaction that sees
the assignment, and the bot claims it to send the heads-up once. ``notify_preferences``
keeps ``notify off`` / ``notify on``.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 07:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("crm_records", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_crm_records_owner_id"), ["owner_id"], unique=False)
        batch_op.create_foreign_key(
            "fk_crm_records_owner_id_people", "people", ["owner_id"], ["id"], ondelete="SET NULL"
        )
    op.create_table(
        "lead_heads_ups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("crm_record_id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=True),
        sa.Column("claimed_by", sa.String(length=200), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["crm_record_id"], ["crm_records.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["owner_id"], ["people.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("crm_record_id", "owner_id"),
    )
    op.create_index("ix_lead_heads_ups_owner_id", "lead_heads_ups", ["owner_id"])
    op.create_index("ix_lead_heads_ups_state", "lead_heads_ups", ["state"])
    op.create_index("ix_lead_heads_ups_sent_at", "lead_heads_ups", ["sent_at"])
    op.create_table(
        "notify_preferences",
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("heads_up", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("person_id"),
    )


def downgrade() -> None:
    op.drop_table("notify_preferences")
    op.drop_index("ix_lead_heads_ups_sent_at", table_name="lead_heads_ups")
    op.drop_index("ix_lead_heads_ups_state", table_name="lead_heads_ups")
    op.drop_index("ix_lead_heads_ups_owner_id", table_name="lead_heads_ups")
    op.drop_table("lead_heads_ups")
    with op.batch_alter_table("crm_records", schema=None) as batch_op:
        batch_op.drop_constraint("fk_crm_records_owner_id_people", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_crm_records_owner_id"))
        batch_op.drop_column("owner_id")
