"""pair_strength: what was left out of a pair's score, as weak evidence and as counts

Automated, bulk and list mail, and mail or meetings with more people than the
audience cap, weigh nothing in the score; the ranking now gives such mail a small
weight of its own (``d_ignored``, audience-weighted and decayed like the other
sums), so that a pair whose only contact was list mail ranks above strangers, and
the details card says what was left out and why (``n_bulk``, ``n_crowd``; the rest
of ``n_ignored`` is declined or cancelled meetings and short calls). Existing rows
start at zero: ``whoknows db rebuild`` fills them from the stored interactions.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 07:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_COLUMNS = (
    ("d_ignored", sa.Float()),
    ("n_bulk", sa.Integer()),
    ("n_crowd", sa.Integer()),
)


def upgrade() -> None:
    for name, type_ in _COLUMNS:
        op.add_column("pair_strength", sa.Column(name, type_, nullable=False, server_default="0"))


def downgrade() -> None:
    # Plain ALTER TABLE on both dialects (SQLite 3.35+): batch mode would copy the
    # table and lose its WITHOUT ROWID layout (migration 0004).
    for name, _ in reversed(_COLUMNS):
        op.execute(f"ALTER TABLE pair_strength DROP COLUMN {name}")
