"""indexes on events.message_id (a message's emailed events) and events.ical_uid (the event
an emailed update or reply is about)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_events_message", "events", ["message_id"])
    op.create_index("ix_events_ical_uid", "events", ["account_id", "ical_uid"])


def downgrade() -> None:
    op.drop_index("ix_events_ical_uid", table_name="events")
    op.drop_index("ix_events_message", table_name="events")
