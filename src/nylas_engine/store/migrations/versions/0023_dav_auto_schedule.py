"""A CalDAV account remembers whether its server schedules (RFC 6638 `calendar-auto-schedule`).

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "dav_accounts",
        sa.Column("auto_schedule", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    op.drop_column("dav_accounts", "auto_schedule")
