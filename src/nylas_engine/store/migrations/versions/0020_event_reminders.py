"""Events keep their `reminders` (one alarm, as hosted Nylas v2 shows it; CalDAV VALARM).

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("events", sa.Column("reminders", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("events", "reminders")
