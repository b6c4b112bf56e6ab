"""PostgreSQL search reads an index: trigram GIN indexes over the text a search word may
match (store/search_index.py, which new databases get from too). SQLite searches its FTS5
table (0002) and needs nothing here. Where pg_trgm can't be installed, the migration goes
on without the indexes: search still works, by reading the account's messages.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-06
"""

from alembic import op

from nylas_engine.store.search_index import create_trigram_indexes

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        create_trigram_indexes(bind)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_files_filename_trgm")
    op.execute("DROP INDEX IF EXISTS ix_messages_search_text")
