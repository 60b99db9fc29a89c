"""No directory_stamp: the ranking reads its colleagues in its own statement

Migration 0005 kept a token, replaced by triggers on people and addresses, for an
in-process copy of the colleague directory. The ranking now joins each pair to its
colleague in the one statement it runs (scoring/ranking.py), so nothing reads the
token: the triggers, their PostgreSQL functions and the table go. Downgrade
recreates them exactly as 0005 made them, with a new token.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 08:00:00
"""

from __future__ import annotations

import importlib

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# 0005 knows its triggers, functions and table, and how to create and drop them.
_STAMP = importlib.import_module("signals.migrations.versions.0005_directory_stamp")


def upgrade() -> None:
    _STAMP.downgrade()


def downgrade() -> None:
    _STAMP.upgrade()
