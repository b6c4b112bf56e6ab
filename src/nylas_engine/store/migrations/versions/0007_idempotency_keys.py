"""Idempotency keys as Stripe keeps them: a request fingerprint, the running attempt and when
it claimed the key (its lease), the Message-ID of a send whose SMTP transaction started, and an index
for purging keys older than 24 hours.

The rows kept so far are dropped: their scope was a digest of the raw Authorization header,
which no principal-scoped lookup can match, and some held replies with access tokens.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DELETE FROM idempotent_responses")
    with op.batch_alter_table("idempotent_responses") as batch:
        batch.add_column(
            sa.Column("fingerprint", sa.String(length=64), nullable=False, server_default="")
        )
        batch.add_column(
            sa.Column("attempt", sa.String(length=64), nullable=False, server_default="")
        )
        batch.add_column(
            sa.Column("claimed_at", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("send_message_id", sa.String(length=998), nullable=True))
    op.create_index("ix_idempotency_created", "idempotent_responses", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_idempotency_created", table_name="idempotent_responses")
    with op.batch_alter_table("idempotent_responses") as batch:
        batch.drop_column("send_message_id")
        batch.drop_column("claimed_at")
        batch.drop_column("attempt")
        batch.drop_column("fingerprint")
