"""A savepoint opened on SQLite takes the writers' turn (store/sqlite_writers.py) before it
reads: SQLite starts the transaction at the SAVEPOINT, and a read in it fixes the snapshot the
later write must still be at. An API write in a savepoint (store/stale.py) read a message,
the sync committed a batch meanwhile, and the write failed with "database is locked"
(SQLITE_BUSY_SNAPSHOT, which no busy timeout waits out): a 500 on PUT /messages/{id}."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session

from nylas_engine.store.db import make_engine


def test_a_write_in_a_savepoint_after_a_read_is_not_refused_for_another_writers_commit(
    tmp_path: Path,
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'turns.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE counters (id INTEGER PRIMARY KEY, n INTEGER)"))
        conn.execute(text("INSERT INTO counters VALUES (1, 0), (2, 0)"))
    errors: list[Exception] = []

    def other_writer() -> None:  # another thread of the engine, e.g. the sync storing a batch
        try:
            with engine.begin() as conn:
                conn.execute(text("UPDATE counters SET n = n + 1 WHERE id = 2"))
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    writer = threading.Thread(target=other_writer)
    with Session(engine) as session:
        with session.begin_nested():
            session.execute(text("SELECT n FROM counters WHERE id = 1")).scalar()
            writer.start()
            writer.join(timeout=1)  # it would commit now, were the turn not taken
            session.execute(text("UPDATE counters SET n = n + 1 WHERE id = 1"))
        session.commit()
    writer.join()
    assert errors == []
    with engine.connect() as conn:
        assert list(conn.execute(text("SELECT n FROM counters ORDER BY id")).scalars()) == [1, 1]
    engine.dispose()
