"""Leases live as long as their owner's presence (store/leases.py): a worker's beat reads
the leases it owns, so they are indexed by owner.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06
"""
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_leases_owner", "leases", ["owner"])


def downgrade() -> None:
    op.drop_index("ix_leases_owner", table_name="leases")
