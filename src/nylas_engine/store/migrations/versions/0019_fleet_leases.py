"""Many engine processes on one database: leases (accounts and jobs owned by one worker at
a time, docs/scaling.md), failed sign-ins counted in the database, and on PostgreSQL a
NOTIFY for every delta-log row so other processes wake at once.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06
"""
import sqlalchemy as sa
from alembic import op

from nylas_engine.store.delta_notify import NOTIFY_FUNCTION, NOTIFY_TRIGGER

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=True),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "guess_counters",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=400), nullable=False),
        sa.Column("failed_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_guess_counters_key", "guess_counters", ["key", "failed_at"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(NOTIFY_FUNCTION)
        op.execute(NOTIFY_TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS transactions_notify ON transactions")
        op.execute("DROP FUNCTION IF EXISTS nylas_delta_notify()")
    op.drop_index("ix_guess_counters_key", table_name="guess_counters")
    op.drop_table("guess_counters")
    op.drop_table("leases")
