"""PostgreSQL's search indexes (search/query.py): trigram GIN indexes (pg_trgm) over the text
a search word may match in a message (subject, body, snippet and participants, joined by
spaces: the very expression search/query.py `search_text` builds) and over file names, so
`ILIKE '%word%'` finds its rows without reading every message of the account.

Made by migration 0025 for existing databases and by store/fresh_schema.py for new ones.
Where pg_trgm can't be installed (not shipped with the server, or the role may not create
it), neither makes the indexes: search still works, by reading the account's messages.
"""

from __future__ import annotations

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

SEARCH_TEXT = (
    "subject || ' ' || body || ' ' || snippet || ' ' || CAST(from_addr AS TEXT) || ' ' || "
    "CAST(to_addr AS TEXT) || ' ' || CAST(cc_addr AS TEXT) || ' ' || CAST(bcc_addr AS TEXT)"
)
TRIGRAM_INDEXES = (
    f"CREATE INDEX ix_messages_search_text ON messages USING gin (({SEARCH_TEXT}) gin_trgm_ops)",
    "CREATE INDEX ix_files_filename_trgm ON files USING gin (filename gin_trgm_ops)",
)


def create_trigram_indexes(conn: Connection) -> bool:
    """The indexes, in `conn`'s transaction (PostgreSQL only); False, and nothing made,
    where the pg_trgm extension can't be created."""
    savepoint = conn.begin_nested()
    try:
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except DBAPIError:
        savepoint.rollback()
        return False
    savepoint.commit()
    for statement in TRIGRAM_INDEXES:
        conn.execute(text(statement))
    return True
