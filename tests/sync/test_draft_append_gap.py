"""A draft written through the API while the sync APPENDs its copy to the Drafts folder.

The sync holds no transaction during the APPEND, so the API's write goes through at once
(with one held, SQLite's write lock would keep it waiting until the APPEND ended); and the
copy appended for a version that is no longer current is removed again, so a deleted draft
does not come back from the server and an updated one ends with its newest copy only."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from dovecot import Dovecot
from sync_engines import SyncEngine


class _WriteDuringAppend:
    """An IMAP connection on which the API changes the draft right after the APPEND (too
    short a moment to hit from outside, so the test widens it)."""

    def __init__(self, client: Any, change: Callable[[], None]) -> None:
        self._client = client
        self._change: Callable[[], None] | None = change

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def append(self, *args: Any, **kwargs: Any) -> Any:
        reply = self._client.append(*args, **kwargs)
        if self._change is not None:
            self._change()
            self._change = None
        return reply


@contextmanager
def _account(engine: SyncEngine, dovecot: Dovecot) -> Iterator[tuple[Any, Any, str, str]]:
    """A synced mailbox; yields (API client, sync context, account id, user)."""
    from nylas_engine.config import Settings
    from nylas_engine.context import EngineContext
    from nylas_engine.store.blobs import BlobStore
    from nylas_engine.store.models import Account

    user, password = dovecot.new_user()
    account = engine.add_imap_account(dovecot, user, password)
    engine.cli("sync", account["id"], "--once", "--json")
    settings = Settings(data_dir=engine.data_dir)
    ctx = EngineContext(settings, engine.db, BlobStore(settings.blob_dir))
    with ctx.db.session() as session:
        account_id = session.query(Account.id).filter_by(public_id=account["id"]).scalar()
    with engine.client(account["id"]) as api:
        yield api, ctx, account_id, user
    engine.cli("sync", account["id"], "--once", "--json")


def _save_drafts(ctx: Any, account_id: int, change: Callable[[], None]) -> None:
    from nylas_engine.sync.drafts import sync_drafts
    from nylas_engine.sync.imap import close_quietly
    from nylas_engine.sync.run import AccountSync

    client = AccountSync(ctx, account_id).connect()
    try:
        sync_drafts(ctx, account_id, _WriteDuringAppend(client, change))
    finally:
        close_quietly(client)


def _drafts_on_server(dovecot: Dovecot, user: str) -> list[str]:
    with dovecot.client(user) as other:
        other.select_folder("Drafts", readonly=True)
        uids = other.search("ALL")
        fetched = other.fetch(uids, ["ENVELOPE"]) if uids else {}
        return sorted((d[b"ENVELOPE"].subject or b"").decode() for d in fetched.values())


def test_a_draft_deleted_during_its_append_does_not_come_back(dovecot, offline_engine):
    with _account(offline_engine, dovecot) as (api, ctx, account_id, user):
        draft = api.post("/drafts", json={"subject": "Never mind", "to": []}).json()
        deleted: list[int] = []

        def delete() -> None:
            reply = api.request("DELETE", f"/drafts/{draft['id']}", json={"version": 0})
            deleted.append(reply.status_code)

        _save_drafts(ctx, account_id, delete)

        assert deleted == [200]
        assert _drafts_on_server(dovecot, user) == []
    # The account's sync pass ran as the block ended: what it found on the server is in.
    with offline_engine.client(draft["account_id"]) as api:
        assert api.get("/drafts").json() == []
        assert api.get(f"/drafts/{draft['id']}").status_code == 404


def test_a_draft_updated_during_its_append_ends_with_its_newest_copy(dovecot, offline_engine):
    with _account(offline_engine, dovecot) as (api, ctx, account_id, user):
        draft = api.post("/drafts", json={"subject": "First words", "to": []}).json()
        updated: list[int] = []

        def update() -> None:
            body = {"subject": "Second thoughts", "version": 0}
            updated.append(api.put(f"/drafts/{draft['id']}", json=body).status_code)

        _save_drafts(ctx, account_id, update)

        assert updated == [200]
        assert _drafts_on_server(dovecot, user) == []  # the old version's copy went again
        _save_drafts(ctx, account_id, lambda: None)  # the next write-back
        assert _drafts_on_server(dovecot, user) == ["Second thoughts"]
        (listed,) = api.get("/drafts").json()
        assert (listed["id"], listed["subject"], listed["version"]) == (
            draft["id"],
            "Second thoughts",
            1,
        )
