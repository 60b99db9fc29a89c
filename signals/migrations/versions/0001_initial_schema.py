"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-27 18:22:17.667028
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=320), nullable=False),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("subject", sa.String(length=320), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_log_at"), ["at"], unique=False)

    op.create_table(
        "bot_conversations",
        sa.Column("conversation_id", sa.String(length=300), nullable=False),
        sa.Column("conversation_type", sa.String(length=30), nullable=True),
        sa.Column("tenant_id", sa.String(length=64), nullable=True),
        sa.Column("welcomed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("conversation_id"),
    )
    op.create_table(
        "companies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("name_key", sa.String(length=300), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("companies", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_companies_name_key"), ["name_key"], unique=False)

    op.create_table(
        "interactions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("source_key", sa.String(length=500), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("thread_key", sa.String(length=500), nullable=True),
        sa.Column("parent_key", sa.String(length=500), nullable=True),
        sa.Column("recipient_count", sa.Integer(), nullable=False),
        sa.Column("automated", sa.Boolean(), nullable=False),
        sa.Column("bulk", sa.Boolean(), nullable=False),
        sa.Column("is_list", sa.Boolean(), nullable=False),
        sa.Column("cancelled", sa.Boolean(), nullable=False),
        sa.Column("duration_seconds", sa.Integer(), nullable=True),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("origin", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source_key"),
    )
    with op.batch_alter_table("interactions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_interactions_occurred_at"), ["occurred_at"], unique=False
        )
        batch_op.create_index("ix_interactions_thread", ["thread_key"], unique=False)

    op.create_table(
        "store_meta",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "sync_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("scope", sa.String(length=200), nullable=False),
        sa.Column("delta_link", sa.Text(), nullable=True),
        sa.Column("next_link", sa.Text(), nullable=True),
        sa.Column("lease_owner", sa.String(length=100), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("items_total", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source", "scope"),
    )
    op.create_table(
        "company_domains",
        sa.Column("domain", sa.String(length=255), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["company_id"], ["companies.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("domain"),
    )
    with op.batch_alter_table("company_domains", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_company_domains_company_id"), ["company_id"], unique=False
        )

    op.create_table(
        "graph_items",
        sa.Column("item_id", sa.String(length=500), nullable=False),
        sa.Column("interaction_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["interaction_id"], ["interactions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("item_id"),
    )
    with op.batch_alter_table("graph_items", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_graph_items_interaction_id"), ["interaction_id"], unique=False
        )

    op.create_table(
        "people",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("internal", sa.Boolean(), nullable=False),
        sa.Column("display_name", sa.String(length=300), nullable=False),
        sa.Column("name_key", sa.String(length=300), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=True),
        sa.Column("department", sa.String(length=200), nullable=True),
        sa.Column("phone", sa.String(length=64), nullable=True),
        sa.Column("entra_id", sa.String(length=64), nullable=True),
        sa.Column("upn", sa.String(length=320), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("departed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("opted_out", sa.Boolean(), nullable=False),
        sa.Column("opted_out_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("mailbox_analysed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("is_list", sa.Boolean(), nullable=False),
        sa.Column("is_shared", sa.Boolean(), nullable=False),
        sa.Column("is_automated", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["company_id"], ["companies.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("entra_id"),
    )
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_people_company_id"), ["company_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_people_name_key"), ["name_key"], unique=False)

    op.create_table(
        "addresses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("display_name", sa.String(length=300), nullable=True),
        sa.Column("sent_count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("email"),
    )
    with op.batch_alter_table("addresses", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_addresses_person_id"), ["person_id"], unique=False)

    op.create_table(
        "conversation_refs",
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("person_id"),
    )
    op.create_table(
        "crm_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("crm_id", sa.String(length=100), nullable=False),
        sa.Column("full_name", sa.String(length=300), nullable=False),
        sa.Column("name_key", sa.String(length=300), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("company_name", sa.String(length=300), nullable=True),
        sa.Column("topic", sa.String(length=500), nullable=True),
        sa.Column("phone", sa.String(length=64), nullable=True),
        sa.Column("owner_email", sa.String(length=320), nullable=True),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source", "crm_id"),
    )
    with op.batch_alter_table("crm_records", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_crm_records_email"), ["email"], unique=False)
        batch_op.create_index(batch_op.f("ix_crm_records_name_key"), ["name_key"], unique=False)
        batch_op.create_index(batch_op.f("ix_crm_records_person_id"), ["person_id"], unique=False)

    op.create_table(
        "introductions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("requester_id", sa.Integer(), nullable=False),
        sa.Column("introducer_id", sa.Integer(), nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("request_activity_id", sa.String(length=200), nullable=True),
        sa.Column("requester_conversation", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["introducer_id"], ["people.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["lead_id"], ["people.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["requester_id"], ["people.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("introductions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_introductions_introducer_id"), ["introducer_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_introductions_lead_id"), ["lead_id"], unique=False)
        batch_op.create_index(
            "ix_introductions_open", ["requester_id", "introducer_id", "lead_id"], unique=False
        )

    op.create_table(
        "pair_strength",
        sa.Column("introducer_id", sa.Integer(), nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=False),
        sa.Column("d_out_to", sa.Float(), nullable=False),
        sa.Column("d_out_cc", sa.Float(), nullable=False),
        sa.Column("d_out_reply", sa.Float(), nullable=False),
        sa.Column("d_out_thread", sa.Float(), nullable=False),
        sa.Column("d_in_to", sa.Float(), nullable=False),
        sa.Column("d_in_cc", sa.Float(), nullable=False),
        sa.Column("d_in_reply", sa.Float(), nullable=False),
        sa.Column("d_in_thread", sa.Float(), nullable=False),
        sa.Column("d_meeting", sa.Float(), nullable=False),
        sa.Column("d_call", sa.Float(), nullable=False),
        sa.Column("d_chat", sa.Float(), nullable=False),
        sa.Column("n_out_to", sa.Integer(), nullable=False),
        sa.Column("n_out_cc", sa.Integer(), nullable=False),
        sa.Column("n_out_reply", sa.Integer(), nullable=False),
        sa.Column("n_out_thread", sa.Integer(), nullable=False),
        sa.Column("n_in_to", sa.Integer(), nullable=False),
        sa.Column("n_in_cc", sa.Integer(), nullable=False),
        sa.Column("n_in_reply", sa.Integer(), nullable=False),
        sa.Column("n_in_thread", sa.Integer(), nullable=False),
        sa.Column("n_meeting", sa.Integer(), nullable=False),
        sa.Column("n_call", sa.Integer(), nullable=False),
        sa.Column("n_chat", sa.Integer(), nullable=False),
        sa.Column("n_total", sa.Integer(), nullable=False),
        sa.Column("n_ignored", sa.Integer(), nullable=False),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_out_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_in_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_mutual_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("feedback_factor", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["introducer_id"], ["people.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["lead_id"], ["people.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("introducer_id", "lead_id"),
    )
    with op.batch_alter_table("pair_strength", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pair_strength_lead_id"), ["lead_id"], unique=False)

    op.create_table(
        "participants",
        sa.Column("interaction_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=12), nullable=False),
        sa.Column("response", sa.String(length=12), nullable=False),
        sa.ForeignKeyConstraint(["interaction_id"], ["interactions.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("interaction_id", "person_id", "role"),
    )
    with op.batch_alter_table("participants", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_participants_person_id"), ["person_id"], unique=False)

    op.create_table(
        "thread_members",
        sa.Column("thread_key", sa.String(length=500), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("thread_key", "person_id"),
    )


def downgrade() -> None:
    op.drop_table("thread_members")
    with op.batch_alter_table("participants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_participants_person_id"))

    op.drop_table("participants")
    with op.batch_alter_table("pair_strength", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pair_strength_lead_id"))

    op.drop_table("pair_strength")
    with op.batch_alter_table("introductions", schema=None) as batch_op:
        batch_op.drop_index("ix_introductions_open")
        batch_op.drop_index(batch_op.f("ix_introductions_lead_id"))
        batch_op.drop_index(batch_op.f("ix_introductions_introducer_id"))

    op.drop_table("introductions")
    with op.batch_alter_table("crm_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_crm_records_person_id"))
        batch_op.drop_index(batch_op.f("ix_crm_records_name_key"))
        batch_op.drop_index(batch_op.f("ix_crm_records_email"))

    op.drop_table("crm_records")
    op.drop_table("conversation_refs")
    with op.batch_alter_table("addresses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_addresses_person_id"))

    op.drop_table("addresses")
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_people_name_key"))
        batch_op.drop_index(batch_op.f("ix_people_company_id"))

    op.drop_table("people")
    with op.batch_alter_table("graph_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_graph_items_interaction_id"))

    op.drop_table("graph_items")
    with op.batch_alter_table("company_domains", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_company_domains_company_id"))

    op.drop_table("company_domains")
    op.drop_table("sync_state")
    op.drop_table("store_meta")
    with op.batch_alter_table("interactions", schema=None) as batch_op:
        batch_op.drop_index("ix_interactions_thread")
        batch_op.drop_index(batch_op.f("ix_interactions_occurred_at"))

    op.drop_table("interactions")
    with op.batch_alter_table("companies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_companies_name_key"))

    op.drop_table("companies")
    op.drop_table("bot_conversations")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_log_at"))

    op.drop_table("audit_log")
