"""OAuth 2.0 accounts: SMTP's own security mode (Microsoft 365 sends with STARTTLS on 587
while its IMAP uses implicit TLS on 993).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06
"""
import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN (see 0015: batch mode would drop the accounts table on SQLite).
    op.add_column("accounts", sa.Column("smtp_security", sa.String(length=16), nullable=True))


def downgrade() -> None:
    # A plain DROP COLUMN (SQLite 3.35+): batch mode would copy and drop the accounts table,
    # and dropping it deletes every account's mail through the foreign keys.
    op.drop_column("accounts", "smtp_security")
