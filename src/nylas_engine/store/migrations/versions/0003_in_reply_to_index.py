"""index on messages.in_reply_to: threading finds a held reply of a message arriving later

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_messages_in_reply_to", "messages", ["account_id", "in_reply_to"])


def downgrade() -> None:
    op.drop_index("ix_messages_in_reply_to", table_name="messages")
