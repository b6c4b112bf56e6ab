"""Wake-ups for what waits on an account's delta log: `/delta/longpoll` and `/delta/streaming`
requests, and the sync threads that write API changes back.

`LocalWakeups` (SQLite): each commit of this process that logged changes wakes this process's
waiters on its accounts (delta/log.py `on_commit`). On SQLite one process serves and syncs;
what other processes commit (the API processes of `serve --workers N`, a CLI import) is
seen at the waiters' next look at the log.

`DeltaNotifications` (PostgreSQL), across processes: a trigger on the delta log (migration
0019) sends `NOTIFY nylas_delta, '<account id>'` with every row it commits, whichever process
wrote it.
Each API process keeps one connection LISTENing, and a thread hands each notification to the
`/delta/longpoll` and `/delta/streaming` requests waiting on that account, so they answer
at once instead of at their next look at the log. A fleet worker (fleet.py) keeps one too:
its sync threads `watch` their accounts, and a change written through any API process sets
the thread's event, which starts the write-back. A lost connection is made again, and every
watcher is woken then (a notification may have been missed meanwhile); the longpolls still
look at the log every half second and the sync threads at a slower safety-net interval, so
nothing depends on a notification arriving.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import defaultdict
from collections.abc import Callable

from nylas_engine.delta.log import on_commit
from nylas_engine.store.db import libpq_dsn

log = logging.getLogger("nylas_engine.delta")

CHANNEL = "nylas_delta"
RECONNECT = 1.0  # seconds before listening again after the connection was lost

# The trigger that sends the notifications: made by migration 0019 in an existing database,
# and with the rest of the schema in a new one (fresh_schema.py).
NOTIFY_FUNCTION = f"""
CREATE OR REPLACE FUNCTION nylas_delta_notify() RETURNS trigger AS $$
BEGIN
  PERFORM pg_notify('{CHANNEL}', NEW.account_id::text);
  RETURN NULL;
END;
$$ LANGUAGE plpgsql
"""
NOTIFY_TRIGGER = """
CREATE TRIGGER transactions_notify AFTER INSERT ON transactions
FOR EACH ROW EXECUTE FUNCTION nylas_delta_notify()
"""


class Wakeups:
    """The waiters and watchers of each account, and waking them."""

    def __init__(self) -> None:
        self._waiters: dict[int, set[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = (
            defaultdict(set)
        )
        self._watchers: dict[int, set[threading.Event]] = defaultdict(set)
        self._lock = threading.Lock()

    async def wait(self, account_id: int, timeout: float) -> bool:
        """Return when a change of the account is committed (True), or after `timeout`."""
        event = asyncio.Event()
        entry = (asyncio.get_running_loop(), event)
        with self._lock:
            self._waiters[account_id].add(entry)
        try:
            await asyncio.wait_for(event.wait(), timeout)
            return True
        except asyncio.TimeoutError:
            return False
        finally:
            with self._lock:
                waiting = self._waiters.get(account_id)
                if waiting is not None:
                    waiting.discard(entry)
                    if not waiting:
                        del self._waiters[account_id]

    def watch(self, account_id: int) -> threading.Event:
        """An event set whenever a change of the account is committed anywhere (and when
        the listening connection was made again); the watcher clears it before it looks."""
        event = threading.Event()
        with self._lock:
            self._watchers[account_id].add(event)
        return event

    def unwatch(self, account_id: int, event: threading.Event) -> None:
        with self._lock:
            watching = self._watchers.get(account_id)
            if watching is not None:
                watching.discard(event)
                if not watching:
                    del self._watchers[account_id]

    def _wake(self, account_id: int) -> None:
        with self._lock:
            waiting = list(self._waiters.get(account_id, ()))
            watching = list(self._watchers.get(account_id, ()))
        for loop, event in waiting:
            with contextlib.suppress(RuntimeError):  # its loop closed (shutting down)
                loop.call_soon_threadsafe(event.set)
        for watcher in watching:
            watcher.set()

    def _wake_watchers(self) -> None:
        with self._lock:
            everyone = [event for events in self._watchers.values() for event in events]
        for event in everyone:
            event.set()


class LocalWakeups(Wakeups):
    """Woken by this process's own commits (SQLite). Changes another process commits (a
    CLI import while the engine serves) are seen at the waiters' next look at the log."""

    def __init__(self) -> None:
        super().__init__()
        self._remove: Callable[[], None] | None = None

    def start(self) -> LocalWakeups:
        self._remove = on_commit(self._wake)
        return self

    def stop(self) -> None:
        if self._remove is not None:
            self._remove()
            self._remove = None


class DeltaNotifications(Wakeups):
    def __init__(self, url: str) -> None:
        super().__init__()
        self.dsn = libpq_dsn(url)
        self.stopping = threading.Event()
        self._thread = threading.Thread(target=self._listen, name="delta-listen", daemon=True)

    def start(self) -> DeltaNotifications:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()

    def _listen(self) -> None:
        import psycopg

        while not self.stopping.is_set():
            try:
                with psycopg.connect(self.dsn, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self._wake_watchers()  # whatever came while we were not listening
                    while not self.stopping.is_set():
                        for note in conn.notifies(timeout=1.0):
                            if note.payload.isdigit():
                                self._wake(int(note.payload))
            except Exception as exc:  # the database restarting must not end the wake-ups
                log.warning("listening for delta notifications failed: %s", exc)
                self.stopping.wait(RECONNECT)
