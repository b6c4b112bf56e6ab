"""The outbox (`/v2/outbox`): messages the engine sends at their time, and their job status.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox_jobs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("public_id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("send_at", sa.BigInteger(), nullable=False),
        sa.Column("original_send_at", sa.BigInteger(), nullable=False),
        sa.Column("retry_limit", sa.BigInteger(), nullable=True),
        sa.Column("due_at", sa.BigInteger(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("claimed_at", sa.BigInteger(), nullable=True),
        sa.Column("data_started", sa.Boolean(), nullable=False),
        sa.Column("message_id", sa.String(length=40), nullable=True),
        sa.Column("thread_id", sa.String(length=40), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("public_id"),
    )
    op.create_index("ix_outbox_jobs_account", "outbox_jobs", ["account_id", "id"])
    op.create_index("ix_outbox_jobs_due", "outbox_jobs", ["status", "due_at"])


def downgrade() -> None:
    op.drop_index("ix_outbox_jobs_due", table_name="outbox_jobs")
    op.drop_index("ix_outbox_jobs_account", table_name="outbox_jobs")
    op.drop_table("outbox_jobs")
