"""Gmail's IMAP extensions (X-GM-EXT-1): a synced message's X-GM-MSGID and the labels the
server last reported for it (X-GM-LABELS) on its UID row, and Gmail's thread id (X-GM-THRID)
on the thread its messages share. All NULL for every other server.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06
"""
import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("imap_uids", sa.Column("gm_msgid", sa.BigInteger(), nullable=True))
    op.add_column("imap_uids", sa.Column("labels", sa.JSON(), nullable=True))
    op.create_index("ix_imap_uids_gm_msgid", "imap_uids", ["account_id", "gm_msgid"])
    op.add_column("threads", sa.Column("gm_thrid", sa.BigInteger(), nullable=True))
    op.create_index("ix_threads_gm_thrid", "threads", ["account_id", "gm_thrid"])


def downgrade() -> None:
    op.drop_index("ix_threads_gm_thrid", table_name="threads")
    op.drop_column("threads", "gm_thrid")
    op.drop_index("ix_imap_uids_gm_msgid", table_name="imap_uids")
    op.drop_column("imap_uids", "labels")
    op.drop_column("imap_uids", "gm_msgid")
