"""On SQLite the process that serves is the one that writes: a commit that logged changes of
an account wakes the longpolls waiting on that account at once (store/delta_notify.py
`LocalWakeups`), instead of at their next look at the log."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

from sqlalchemy import select

from nylas_engine.delta.log import on_commit, record
from nylas_engine.store.accounts import create_account
from nylas_engine.store.db import Database
from nylas_engine.store.delta_notify import LocalWakeups
from nylas_engine.store.models import Transaction

NEVER = 30.0  # seconds: a wait that ends before this was woken


def _accounts(db: Database) -> tuple[int, int]:
    with db.session() as session:
        one = create_account(session, "one@example.com")
        two = create_account(session, "two@example.com")
        session.flush()
        return one.id, two.id


def _woken(
    wakeups: LocalWakeups, account_id: int, timeout: float, change: Callable[[], None]
) -> bool:
    """Whether a wait on `account_id` is woken while `change` runs in another thread."""

    async def waiting() -> bool:
        waiter = asyncio.create_task(wakeups.wait(account_id, timeout))
        await asyncio.sleep(0)  # the waiter is registered before the change starts
        thread = threading.Thread(target=change)
        thread.start()
        woken = await waiter
        thread.join()
        return woken

    return asyncio.run(waiting())


def test_a_commit_wakes_its_accounts_waiters_and_no_others(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'engine.db'}")
    one, two = _accounts(db)

    def commit_a_change_of_one() -> None:
        with db.session() as session:
            record(session, one, [("message", "m1")])

    def roll_back_a_change_of_one() -> None:
        try:
            with db.session() as session:
                record(session, one, [("message", "m2")])
                raise RuntimeError("no commit")
        except RuntimeError:
            pass

    wakeups = LocalWakeups().start()
    try:
        assert _woken(wakeups, one, NEVER, commit_a_change_of_one)
        assert not _woken(wakeups, two, 0.5, commit_a_change_of_one)  # another account's
        assert not _woken(wakeups, one, 0.5, roll_back_a_change_of_one)
    finally:
        wakeups.stop()
    assert not _woken(wakeups, one, 0.5, commit_a_change_of_one)  # stopped: hears nothing


def test_a_failing_listener_leaves_the_commit_and_the_other_listeners_alone(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'engine.db'}")
    one, _ = _accounts(db)
    heard: list[int] = []

    def broken(_account_id: int) -> None:
        raise RuntimeError("a listener's bug")

    stop_broken, stop_heard = on_commit(broken), on_commit(heard.append)
    try:
        with db.session() as session:
            record(session, one, [("message", "m3")])
    finally:
        stop_broken()
        stop_heard()
    assert heard == [one]
    with db.session() as session:
        logged = session.scalars(select(Transaction.object_public_id)).all()
    assert "m3" in logged
