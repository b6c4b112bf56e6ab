"""A new database's schema, made in one step from the models instead of by replaying every
Alembic migration since the first (about 0.4 s of CPU and seconds of disk on SQLite for each
new data directory: every engine a test starts, every `serve` on a new directory).

A new database has no history to replay: it gets the models' tables, what the migrations
make outside the models (the FTS5 search table, PostgreSQL's NOTIFY trigger and trigram
search indexes), and Alembic's version row at the newest revision, so the next release's
migrations upgrade it as they upgrade any other. tests/engine/test_migrations.py checks
that replaying the migrations makes the same schema, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from sqlalchemy import Column, Connection, MetaData, PrimaryKeyConstraint, String, Table, text

# What the migrations make that the models do not describe: the search table (the same
# statement as migration 0002's), PostgreSQL's NOTIFY trigger (store/delta_notify.py) and
# trigram indexes (store/search_index.py).
SQLITE_SEARCH_TABLE = (
    "CREATE VIRTUAL TABLE message_search USING fts5("
    "subject, body, participants, filenames, tokenize='unicode61 remove_diacritics 2')"
)

# Alembic's own version table, as `alembic stamp` makes it (alembic.runtime.migration), so
# the next upgrade reads it; written here without loading Alembic (a fifth of a second).
_version = MetaData()
ALEMBIC_VERSION = Table(
    "alembic_version",
    _version,
    Column("version_num", String(32), nullable=False),
    PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
)


def is_empty(conn: Connection) -> bool:
    """No table of ours, nor Alembic's: a database nothing has been created in."""
    from sqlalchemy import inspect

    return not inspect(conn).get_table_names()


def create_fresh(conn: Connection, revision: str) -> None:
    """The whole schema at `revision` (the newest) in an empty database, in `conn`'s
    transaction."""
    from nylas_engine.store import dav, dav_writeback  # noqa: F401  (their models' tables)
    from nylas_engine.store.guess_counters import guess_counters
    from nylas_engine.store.leases import leases
    from nylas_engine.store.models import Base

    # The models (some in modules of their own), and the tables kept outside them (Core).
    for metadata in (Base.metadata, leases.metadata, guess_counters.metadata):
        metadata.create_all(conn)
    if conn.dialect.name == "sqlite":
        conn.execute(text(SQLITE_SEARCH_TABLE))
    elif conn.dialect.name == "postgresql":
        from nylas_engine.store.delta_notify import NOTIFY_FUNCTION, NOTIFY_TRIGGER
        from nylas_engine.store.search_index import create_trigram_indexes

        conn.execute(text(NOTIFY_FUNCTION))
        conn.execute(text(NOTIFY_TRIGGER))
        create_trigram_indexes(conn)
    _version.create_all(conn)
    conn.execute(ALEMBIC_VERSION.insert().values(version_num=revision))
