"""people.stored_since: nothing dated before it is stored about the person

A colleague who opts back in starts again at that moment: the privacy gate
(signals/privacy.py) refuses every interaction of theirs dated before it, from any
source, so that nothing deleted at the opt-out comes back through a later import or
a fresh back-fill. A plain ADD COLUMN (no table copy), so that SQLite keeps the
people table's triggers (migration 0005).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 07:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("people", sa.Column("stored_since", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("people", "stored_since")
