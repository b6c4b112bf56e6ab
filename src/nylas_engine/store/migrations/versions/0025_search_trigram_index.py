"""PostgreSQL search reads an index (search/query.py): trigram GIN indexes (pg_trgm) over the
text a search word may match in a message (subject, body, snippet and participants, joined
by spaces: the very expression search/query.py `search_text` builds) and over file names,
so `ILIKE '%word%'` finds its rows without reading every message of the account.

SQLite searches its FTS5 table (0002) and needs nothing here. Where pg_trgm can't be
installed (not shipped with the server, or the role may not create it), the migration goes
on without the indexes: search still works, by reading the account's messages.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-06
"""
from alembic import op
from sqlalchemy.exc import DBAPIError

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

SEARCH_TEXT = (
    "subject || ' ' || body || ' ' || snippet || ' ' || CAST(from_addr AS TEXT) || ' ' || "
    "CAST(to_addr AS TEXT) || ' ' || CAST(cc_addr AS TEXT) || ' ' || CAST(bcc_addr AS TEXT)"
)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    savepoint = bind.begin_nested()
    try:
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except DBAPIError:
        savepoint.rollback()
        return
    savepoint.commit()
    op.execute(
        f"CREATE INDEX ix_messages_search_text ON messages USING gin (({SEARCH_TEXT}) gin_trgm_ops)"
    )
    op.execute("CREATE INDEX ix_files_filename_trgm ON files USING gin (filename gin_trgm_ops)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_files_filename_trgm")
    op.execute("DROP INDEX IF EXISTS ix_messages_search_text")
