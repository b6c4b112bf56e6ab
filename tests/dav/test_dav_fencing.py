"""Fencing of CalDAV/CardDAV sync in a fleet (docs/scaling.md): the DAV sync runs under the
`job:dav` lease, and a worker that lost that lease (it stalled, another took the job over)
writes nothing more, as an account's IMAP sync under its lease (tests/sync/test_fleet.py)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from dav_helpers import Phone, add_dav_account, eventually
from radicale_server import Radicale
from sqlalchemy import select
from sync_engines import SyncEngine


def test_a_dav_sync_that_lost_its_lease_writes_nothing(
    radicale: Radicale, tmp_path: Path, new_database: Callable[[], str | None]
) -> None:
    from nylas_engine.config import Settings
    from nylas_engine.context import EngineContext
    from nylas_engine.dav.worker import DavWorker
    from nylas_engine.store import leases
    from nylas_engine.store.accounts import find_by_public_id
    from nylas_engine.store.models import Account, Calendar

    user, password = radicale.add_user()
    Phone(radicale, user, password).make_calendar("Fenced")
    engine = SyncEngine(tmp_path, db_url=new_database())  # not started: its CLI adds the account
    public_id = add_dav_account(engine, radicale, user, password)["id"]
    ctx = EngineContext.open(Settings(data_dir=tmp_path, db_url=engine.db_url))
    try:
        with ctx.db.session() as session:
            account_id = find_by_public_id(session, public_id).id  # type: ignore[union-attr]
            leases.join(session, "stalled", ttl=0.1)
            stale = leases.claim(session, "job:dav", "stalled")
        time.sleep(0.3)  # the stalled worker's presence expires; another takes the job over
        with ctx.db.session() as session:
            leases.join(session, "taker", ttl=600)
            current = leases.claim(session, "job:dav", "taker")
        assert stale is not None and current is not None

        def calendars() -> list[str]:
            with ctx.db.session() as session:
                query = select(Calendar.name).where(Calendar.account_id == account_id)
                return list(session.scalars(query))

        def sync_state() -> str:
            with ctx.db.session() as session:
                return session.get(Account, account_id).sync_state  # type: ignore[union-attr]

        before = sync_state()
        stalled = DavWorker(ctx, account_id, poll=600, lease=stale)
        stalled.start()
        stalled.join(60)
        assert not stalled.is_alive()  # it stopped on its own
        assert "Fenced" not in calendars() and sync_state() == before

        syncing = DavWorker(ctx, account_id, poll=600, lease=current)
        syncing.start()
        try:
            eventually(lambda: "Fenced" in calendars(), "the holder of the lease syncing")
        finally:
            syncing.stop()
            syncing.join(30)
    finally:
        ctx.db.engine.dispose()
