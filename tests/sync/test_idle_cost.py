"""What an idle account costs (docs/scaling.md, capacity model): a fleet worker's sync thread
(woken for write-back by the delta log's notifications) that waits in IDLE looks at every
folder's STATUS every check interval, and reads nothing from the store while nothing moved;
a change in a folder other than the inbox is still found by the next look."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from dovecot import Dovecot
from test_freshness import MODERN_WITHOUT_NOTIFY
from test_live_sync import eventually


@pytest.fixture(scope="module")
def dovecot_without_notify() -> Iterator[Dovecot]:
    """Without NOTIFY the timed STATUS look is what finds changes outside the inbox."""
    server = Dovecot(capabilities=MODERN_WITHOUT_NOTIFY).start()
    yield server
    server.stop()


def test_an_idle_account_reads_nothing_from_the_store_until_a_folder_changes(
    dovecot_without_notify: Dovecot, tmp_path: Path
) -> None:
    from sqlalchemy import event, func, select

    from nylas_engine.config import Settings
    from nylas_engine.context import EngineContext
    from nylas_engine.store.credentials import MailCredentials
    from nylas_engine.store.models import Message
    from nylas_engine.sync.accounts import connect_account
    from nylas_engine.sync.worker import AccountWorker

    dovecot = dovecot_without_notify
    email, password = dovecot.new_user()
    dovecot.append(email, [_raw(n, email) for n in range(3)])
    ctx = EngineContext.open(Settings(data_dir=tmp_path))
    settings = dovecot.server_settings(email)
    account = connect_account(
        ctx.db, tmp_path, settings, MailCredentials(password, None), allow_move=True
    )

    def stored() -> int:
        with ctx.db.session() as session:
            query = (
                select(func.count()).select_from(Message).where(Message.account_id == account.id)
            )
            return int(session.scalar(query) or 0)

    worker = AccountWorker(ctx, account.id, check=0.3, changed=threading.Event())
    worker.start()
    try:
        eventually(lambda: stored() == 3, "the first sync")
        statements: list[str] = []
        record = lambda _c, _cur, sql, *_: statements.append(sql)  # noqa: E731
        event.listen(ctx.db.engine, "before_cursor_execute", record)
        for _ in range(5):  # the first windows may still see the sync settle into IDLE
            statements.clear()
            time.sleep(2.0)  # about six looks at every folder's STATUS
            if not statements:
                break
        event.remove(ctx.db.engine, "before_cursor_execute", record)
        assert statements == []
        dovecot.append(email, [_raw(9, email)], folder="Trash")
        eventually(lambda: stored() == 4, "the message in Trash")
    finally:
        worker.stop()
        worker.join(10)
        ctx.db.engine.dispose()


def _raw(n: int, to: str) -> bytes:
    return (
        f"From: a@example.org\r\nTo: {to}\r\nSubject: idle {n}\r\n"
        f"Message-ID: <idle-{n}-{to}>\r\n\r\nbody {n}\r\n"
    ).encode()
