"""Accounts whose mail hosts a caller chose: their addresses are checked on every connection.

Revision ID: 0015
Revises: 0010
Create Date: 2026-12-06
"""
import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN: batch mode would copy and drop the accounts table on SQLite, and
    # dropping it deletes every account's mail through the foreign keys.
    op.add_column(
        "accounts",
        sa.Column("hosts_checked", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    # A plain DROP COLUMN (SQLite 3.35+): batch mode would copy and drop the accounts table,
    # and dropping it deletes every account's mail through the foreign keys.
    op.drop_column("accounts", "hosts_checked")
