"""SQLite writers of one process take turns in line instead of polling for the write lock.

SQLite lets one connection write at a time. The others get SQLITE_BUSY and, with a busy
timeout, poll: they sleep up to 100 ms between tries, so with many writers a waiting one
misses most of the moments the lock is free and a few wait for seconds (issue 10: the slow
tail of writes under load, and "database is locked" past the timeout). Here the threads of
one engine queue on a lock of their own instead, taken just before a connection's first
writing statement or savepoint (pysqlite begins the transaction right then, so nothing of
the process holds SQLite's lock, or a snapshot it means to write from, without holding this
one) and given back when the connection goes back to the pool, which a session does as its
transaction ends (commit or rollback), after it.

SQLite's own lock and busy timeout still arbitrate between processes (a CLI import while the
engine serves). A thread waits at most `timeout` seconds, like the busy timeout.
"""

from __future__ import annotations

import sqlite3
import threading
from typing import Any

from sqlalchemy import Engine, event

# SAVEPOINT too: outside a transaction it begins one (pysqlite adds no BEGIN before it), and
# the reads that follow fix the snapshot its writes need; had another thread committed in
# between, SQLite would refuse the first write at once (SQLITE_BUSY_SNAPSHOT, "database is
# locked", no busy timeout waits for it). Every savepoint of the engine is there to write.
WRITES = frozenset(
    {"INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER", "SAVEPOINT"}
)
HELD = "nylas_writer_lock"  # in a pooled connection's info while it holds the lock


def _writes(statement: str) -> bool:
    head = statement.lstrip()[:10].split(None, 1)  # the longest: "SAVEPOINT "
    return bool(head) and head[0].upper() in WRITES


def take_turns(engine: Engine, timeout: float) -> None:
    """Make the writers of `engine` (a SQLite file) queue on one in-process lock."""
    lock = threading.Lock()

    @event.listens_for(engine, "before_cursor_execute")
    def _before_write(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if conn.info.get(HELD) or not _writes(statement):
            return
        if not lock.acquire(timeout=timeout):
            raise sqlite3.OperationalError("database is locked")
        conn.info[HELD] = True

    def _release(record: Any) -> None:
        if record is not None and record.info.pop(HELD, False):
            lock.release()

    @event.listens_for(engine.pool, "checkin")
    def _checked_in(_dbapi_conn: Any, record: Any) -> None:
        _release(record)

    @event.listens_for(engine.pool, "invalidate")
    def _invalidated(_dbapi_conn: Any, record: Any, _exc: Any) -> None:
        _release(record)
