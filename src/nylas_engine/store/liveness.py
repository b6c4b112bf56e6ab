"""A fleet worker's liveness on PostgreSQL: a session-level advisory lock, held on a connection
of the worker's own for as long as it runs (docs/scaling.md, Leases).

Before, a worker was alive while its presence lease was unexpired, and only its heartbeat
thread pushed the expiry forward. When hundreds of sync threads ran their first pass at once,
that thread waited for the GIL past the expiry: the other worker took the accounts over for
dead, then handed them back, each move a new login and full pass (bench/RESULTS.md, Fleet).
A lock needs nothing from the worker's Python: PostgreSQL holds it as long as the connection
lives. A worker killed (SIGKILL, OOM) loses it at once, as its socket closes; a machine that
dies or is cut off loses it when PostgreSQL's TCP keepalives give up (KEEPALIVE, about 25 s).
A worker that hangs while its process lives keeps its leases: the price of not asking its
threads for a sign of life.

The lock's key is `(LOCK_SPACE, hashtext(owner))`, so any statement can ask whether a lease's
owner is alive (`holds_lock`) from the lease row alone.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from typing import Any

from sqlalchemy import ColumnElement, TextualSelect, column, func, text

from nylas_engine.store.db import libpq_dsn

log = logging.getLogger("nylas_engine.fleet")

LOCK_SPACE = 0x464C54  # advisory-lock namespace of worker liveness ("FLT"; the delta log's differs)
KEEPALIVE = (10, 5, 3)  # seconds idle, seconds between probes, probes: a dead peer in ~25 s


@functools.cache
def _oid() -> Any:
    """PostgreSQL's OID type, imported on first use: the PostgreSQL dialect is a large
    import that a process on SQLite (a sync, most CLI commands) never needs."""
    from sqlalchemy.dialects.postgresql import OID

    return OID


@functools.cache
def _held_keys() -> TextualSelect:
    """The liveness locks held in this database: key (LOCK_SPACE, k) shows as classid
    LOCK_SPACE, objid k (as an unsigned oid), objsubid 2. Read once per statement (a hashed
    subplan)."""
    return text(
        "SELECT objid FROM pg_locks WHERE locktype = 'advisory' AND granted"
        f" AND classid = {LOCK_SPACE} AND objsubid = 2"
        " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    ).columns(column("objid", _oid()))


def holds_lock(owner: Any) -> ColumnElement[bool]:
    """SQL (PostgreSQL): the worker named by `owner` (a column or value) holds its lock."""
    return func.hashtext(owner).cast(_oid()).in_(_held_keys())


class Liveness:
    """The lock of one worker, `owner`, on a connection kept for it alone (autocommit: it
    never holds a transaction open)."""

    def __init__(self, url: str, owner: str) -> None:
        self.dsn = libpq_dsn(url)
        self.owner = owner
        self._conn: Any = None

    def start(self) -> Liveness:
        if not self.held_throughout() and self._conn is None:
            raise RuntimeError(f"the liveness lock of {self.owner} is held elsewhere")
        return self

    def held_throughout(self) -> bool:
        """Whether the lock was held without a break since the last call: then no other
        worker can have seen this one dead (nor claimed its leases). Otherwise the connection
        was lost; the lock is taken again on a new one (False), or the database can't be
        reached (raises; False at a later call)."""
        if self._conn is not None:
            try:
                self._conn.execute("SELECT 1")
                return True
            except Exception as exc:  # the connection is gone, and with it the lock
                log.warning("the liveness connection of this worker was lost: %s", exc)
                self.close()
        self._conn = self._lock()
        return False

    def _lock(self) -> Any:
        import psycopg

        idle, interval, count = KEEPALIVE
        conn = psycopg.connect(
            self.dsn,
            autocommit=True,
            connect_timeout=10,
            # this side: a SELECT 1 on a dead network fails instead of hanging
            keepalives=1,
            keepalives_idle=idle,
            keepalives_interval=interval,
            keepalives_count=count,
            tcp_user_timeout=(idle + interval * count) * 1000,
        )
        try:
            # the server's side: it drops the lock of a worker whose machine is gone
            conn.execute(f"SET tcp_keepalives_idle = {idle}")
            conn.execute(f"SET tcp_keepalives_interval = {interval}")
            conn.execute(f"SET tcp_keepalives_count = {count}")
            if conn.info.server_version >= 140000:
                conn.execute("SET idle_session_timeout = 0")  # idle is its whole job
            got = conn.execute(
                "SELECT pg_try_advisory_lock(%s, hashtext(%s))", (LOCK_SPACE, self.owner)
            ).fetchone()
        except Exception:
            conn.close()
            raise
        if got is None or not got[0]:
            # The lost session still holds it (the server has not noticed yet): still alive
            # through that one; try again at the next call.
            conn.close()
            return None
        return conn

    def close(self) -> None:
        """Give the lock up (the worker's shutdown): the others see it gone at once."""
        if self._conn is not None:
            with contextlib.suppress(Exception):  # already broken: nothing to give up
                self._conn.close()
            self._conn = None
