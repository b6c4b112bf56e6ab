"""Metadata filters: a `metadata_entries` row per key and value (store/metadata.py), a
`metadata` column on calendars, and the existing message and event metadata copied in.

Pairs stored before limits were checked (over 40-character keys, over 500-character values,
values that aren't strings) are left out of the copy: reads still return them, filters don't
find them. Account metadata is not copied: it held operator settings (`smtp_password_env`),
while the metadata of /a/{client_id}/accounts belongs to each app and starts empty.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""
import json

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_BATCH = 1000


def upgrade() -> None:
    op.add_column(
        "calendars",
        sa.Column("metadata", sa.JSON(), nullable=False, server_default=sa.text("'{}'")),
    )
    entries = op.create_table(
        "metadata_entries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("app_id", sa.Integer(), nullable=True),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.Column("calendar_id", sa.Integer(), nullable=True),
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("value", sa.String(length=500), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["app_id"], ["apps.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["calendar_id"], ["calendars.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_metadata_entries_pair", "metadata_entries", ["account_id", "key", "value"])
    op.create_index("ix_metadata_entries_value", "metadata_entries", ["account_id", "value"])
    op.create_index("ix_metadata_entries_message", "metadata_entries", ["message_id"])
    op.create_index("ix_metadata_entries_event", "metadata_entries", ["event_id"])
    op.create_index("ix_metadata_entries_calendar", "metadata_entries", ["calendar_id"])
    op.create_index("ix_metadata_entries_app", "metadata_entries", ["app_id", "account_id"])
    _copy(entries, "messages", "message_id")
    _copy(entries, "events", "event_id")


def _copy(entries: sa.Table, table: str, owner: str) -> None:
    """Every valid pair of `table`'s metadata column, as rows owned by its row."""
    bind = op.get_bind()
    source = sa.table(
        table, sa.column("id", sa.Integer), sa.column("account_id", sa.Integer),
        sa.column("metadata", sa.Text),
    )
    text = sa.cast(source.c.metadata, sa.Text)
    rows = bind.execute(
        sa.select(source.c.id, source.c.account_id, text).where(
            text.is_not(None), text.not_in(["{}", "null"])
        )
    ).all()
    batch: list[dict[str, object]] = []
    for row_id, account_id, raw in rows:
        try:
            mapping = json.loads(raw) if isinstance(raw, str) else raw
        except ValueError:
            continue
        if not isinstance(mapping, dict):
            continue
        for key, value in mapping.items():
            if isinstance(value, str) and 0 < len(key) <= 40 and len(value) <= 500:
                batch.append(
                    {"account_id": account_id, owner: row_id, "key": key, "value": value}
                )
        if len(batch) >= _BATCH:
            bind.execute(entries.insert(), batch)
            batch = []
    if batch:
        bind.execute(entries.insert(), batch)


def downgrade() -> None:
    op.drop_table("metadata_entries")
    # Not a batch copy: on SQLite, dropping the old calendars table would cascade to events.
    op.execute("ALTER TABLE calendars DROP COLUMN metadata")
