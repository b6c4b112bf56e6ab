"""Only a worker's presence lease carries an expiry (store/leases.py): an index on
`expires_at` finds the live workers at every beat, and the dead ones to sweep, without
reading every account's lease.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06
"""
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_leases_expires_at", "leases", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_leases_expires_at", table_name="leases")
