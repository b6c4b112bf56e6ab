"""Webhook delivery: the app's sealed secret, a webhook's verification time, and per-account
delivery cursors.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("apps", sa.Column("sealed_secret", sa.LargeBinary(), nullable=True))
    op.add_column("webhooks", sa.Column("verified_at", sa.BigInteger(), nullable=True))
    op.create_table(
        "webhook_cursors",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("webhook_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("transaction_id", sa.Integer(), nullable=False),
        sa.Column("sync_state", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(["webhook_id"], ["webhooks.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("webhook_id", "account_id", name="uq_webhook_cursor"),
    )


def downgrade() -> None:
    op.drop_table("webhook_cursors")
    with op.batch_alter_table("webhooks") as batch:
        batch.drop_column("verified_at")
    with op.batch_alter_table("apps") as batch:
        batch.drop_column("sealed_secret")
