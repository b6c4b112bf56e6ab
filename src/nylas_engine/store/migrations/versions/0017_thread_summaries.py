"""Thread summaries: what a thread shows in a list, kept as its messages change.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06
"""
import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "thread_summaries",
        sa.Column("thread_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("unread", sa.Boolean(), nullable=False),
        sa.Column("starred", sa.Boolean(), nullable=False),
        sa.Column("has_attachments", sa.Boolean(), nullable=False),
        sa.Column("snippet", sa.String(length=191), nullable=False),
        sa.Column("participants", sa.JSON(), nullable=False),
        sa.Column("message_ids", sa.JSON(), nullable=False),
        sa.Column("draft_ids", sa.JSON(), nullable=False),
        sa.Column("category_ids", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["thread_id"], ["threads.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("thread_id"),
    )
    op.create_index("ix_thread_summaries_account", "thread_summaries", ["account_id", "unread"])
    # Existing threads get their summaries right after the migrations have run
    # (store/db.py `migrate`, thread_summary.fill_missing), computed as writes compute them.


def downgrade() -> None:
    op.drop_index("ix_thread_summaries_account", table_name="thread_summaries")
    op.drop_table("thread_summaries")
