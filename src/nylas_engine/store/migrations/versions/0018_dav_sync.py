"""CalDAV/CardDAV sync: endpoints, collections, objects, and API writes owed to the server.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06
"""
import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dav_accounts",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("caldav_url", sa.String(length=2048), nullable=True),
        sa.Column("carddav_url", sa.String(length=2048), nullable=True),
        sa.Column("username", sa.String(length=255), nullable=True),
        sa.Column("sealed_password", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("account_id"),
    )
    op.create_table(
        "dav_collections",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("href", sa.String(length=2048), nullable=False),
        sa.Column("display_name", sa.String(length=255), nullable=False),
        sa.Column("sync_token", sa.String(length=1024), nullable=True),
        sa.Column("ctag", sa.String(length=1024), nullable=True),
        sa.Column("read_only", sa.Boolean(), nullable=False),
        sa.Column("calendar_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["calendar_id"], ["calendars.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id", "href", name="uq_dav_collection_href"),
    )
    op.create_table(
        "dav_objects",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("collection_id", sa.Integer(), nullable=False),
        sa.Column("href", sa.String(length=2048), nullable=False),
        sa.Column("etag", sa.String(length=255), nullable=True),
        sa.Column("uid", sa.String(length=998), nullable=True),
        sa.Column("raw", sa.Text(), nullable=True),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["collection_id"], ["dav_collections.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("collection_id", "href", name="uq_dav_object_href"),
    )
    op.create_index("ix_dav_objects_event", "dav_objects", ["event_id"])
    op.create_index("ix_dav_objects_contact", "dav_objects", ["contact_id"])
    op.create_table(
        "dav_pending",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("object_type", sa.String(length=16), nullable=False),
        sa.Column("object_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_dav_pending_account", "dav_pending", ["account_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_dav_pending_account", table_name="dav_pending")
    op.drop_table("dav_pending")
    op.drop_index("ix_dav_objects_contact", table_name="dav_objects")
    op.drop_index("ix_dav_objects_event", table_name="dav_objects")
    op.drop_table("dav_objects")
    op.drop_table("dav_collections")
    op.drop_table("dav_accounts")
