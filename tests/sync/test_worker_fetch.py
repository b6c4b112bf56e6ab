"""Worker processes fetch a long first sync over IMAP connections of their own (sync/fetch.py):
they bring back what fetching and parsing in the engine brings back, with the bytes in the
blob store, and refuse a folder whose UIDVALIDITY changed under them."""

from __future__ import annotations

import logging

import pytest
import samples

from nylas_engine.store.blobs import BlobStore
from nylas_engine.store.credentials import MailCredentials
from nylas_engine.store.prepare import PreparePool
from nylas_engine.sync.fetch import FolderAccess, fetch_here, fetch_in_worker
from nylas_engine.sync.imap import ServerSettings, ServerUnreachable, connect_imap

ITEMS = ("BODY.PEEK[]", "FLAGS", "MODSEQ")


def _access(dovecot, user: str, password: str, validity: int) -> FolderAccess:
    settings = ServerSettings(
        email=user,
        imap_host=dovecot.host,
        imap_port=dovecot.imap_port,
        imap_username=user,
        security="plain",
    )
    return FolderAccess(settings, MailCredentials(password), "INBOX", validity, ITEMS)


def test_workers_fetch_what_the_engine_would(dovecot, mailbox, tmp_path):
    user, password = mailbox
    raws = [samples.plain(f"note {i}", user, minutes=i) for i in range(5)]
    raws += [samples.with_attachment_and_inline_image("photos", user), samples.latin1(user)]
    uids = dovecot.append(user, raws, flags=[b"\\Seen"])
    with dovecot.client(user, password) as imap:
        validity = int(imap.select_folder("INBOX", readonly=True)[b"UIDVALIDITY"])
        here = fetch_here(imap, [*uids, 9999], ITEMS)  # 9999: expunged since the search
        imap.logout()

    blobs = BlobStore(tmp_path / "blobs")
    access = _access(dovecot, user, password, validity)
    with PreparePool(blobs, workers=2) as pool:
        preparing = pool.map(
            fetch_in_worker, [*uids, 9999], access, blobs.root, fallback=lambda: []
        )
        assert preparing.futures is not None and len(preparing.futures) == 2
        fetched = preparing.result()

    assert [f.uid for f in fetched] == [f.uid for f in here] == uids
    for mine, theirs, raw in zip(fetched, here, raws, strict=True):
        assert (mine.flags, mine.modseq) == (theirs.flags, theirs.modseq)
        assert mine.flags == ["\\Seen"] and mine.modseq
        assert mine.parsed.subject == theirs.parsed.subject
        assert mine.parsed.body == theirs.parsed.body
        assert mine.raw == b"" and theirs.raw.replace(b"\r\n", b"\n") == raw.replace(b"\r\n", b"\n")
        assert blobs.read(mine.parsed.raw_sha256) == theirs.raw  # in the store, not sent back
        for part in mine.parsed.attachments:
            assert part.sha256 is not None and blobs.exists(part.sha256)


def test_a_changed_uidvalidity_fails_the_batch(dovecot, mailbox, tmp_path):
    user, password = mailbox
    uids = dovecot.append(user, [samples.plain("one", user)])
    with dovecot.client(user, password) as imap:
        validity = int(imap.select_folder("INBOX", readonly=True)[b"UIDVALIDITY"])
        imap.logout()
    access = _access(dovecot, user, password, validity + 1)
    with pytest.raises(ServerUnreachable, match="UIDVALIDITY"):
        fetch_in_worker(uids, access, tmp_path / "blobs")


def test_a_fetch_formats_no_protocol_log_unless_it_is_logged(dovecot, mailbox, caplog):
    """IMAPClient turns imaplib's debugging on and routes it to a logger: every line and
    the repr of every message fetched were formatted, then dropped by a logger at INFO."""
    user, password = mailbox
    uids = dovecot.append(user, [samples.plain("a long one " + "x" * 50_000, user)])
    access = _access(dovecot, user, password, 0)

    def fetch_counting_log_lines() -> int:
        client = connect_imap(access.settings, access.credentials)
        try:
            formatted = []
            real = client._imap._mesg
            client._imap._mesg = lambda line: (formatted.append(line), real(line))
            client.select_folder("INBOX", readonly=True)
            assert fetch_here(client, uids, ITEMS)[0].parsed.subject.startswith("a long one")
            return len(formatted)
        finally:
            client.logout()

    caplog.set_level(logging.INFO, logger="imapclient.imaplib")
    assert fetch_counting_log_lines() == 0
    caplog.set_level(logging.DEBUG, logger="imapclient.imaplib")  # asked for: still there
    assert fetch_counting_log_lines() > 0
    assert any("FETCH" in record.getMessage() for record in caplog.records)


def test_a_first_sync_starts_its_worker_before_the_first_folder(
    dovecot, offline_engine, monkeypatch
):
    from test_conflicts import _in_process

    from nylas_engine.sync import run
    from nylas_engine.sync.imap import close_quietly

    user, password = dovecot.new_user()
    dovecot.append(user, [samples.plain(f"note {i}", user, minutes=i) for i in range(6)])
    account = offline_engine.add_imap_account(dovecot, user, password)
    warmed: list[int] = []
    real = run.warm_up

    def spy(workers, preload):  # the real one, noting how many UIDs were stored by then
        with ctx.db.session() as session:
            warmed.append(run.imap_uids.count_for_account(session, account_id) or 0)
        real(workers, preload)

    monkeypatch.setattr(run, "warm_up", spy)
    monkeypatch.setattr(run, "BATCH_COUNT", 2)  # six messages are a long fetch
    ctx, account_id = _in_process(offline_engine, account)
    sync = run.AccountSync(ctx, account_id)
    client = sync.connect()
    try:
        assert sync.full_pass(client).added == 6
        assert warmed == [0]  # before the first folder stored anything
        sync.full_pass(client)  # nothing new to fetch: no worker started
        assert warmed == [0]
    finally:
        close_quietly(client)


def _two_folders_in_small_batches(dovecot, engine, monkeypatch, count: int) -> dict:
    """An account with `count` messages in INBOX and as many in Archive, synced in batches
    of two (so each folder has a first batch, worker batches and a last one)."""
    from nylas_engine.sync import messages, run

    user, password = dovecot.new_user()
    dovecot.append(user, [samples.plain(f"inbox {i}", user, minutes=i) for i in range(count)])
    dovecot.append(
        user, [samples.plain(f"archive {i}", user, minutes=i) for i in range(count)], "Archive"
    )
    monkeypatch.setattr(messages, "BATCH_COUNT", 2)
    monkeypatch.setattr(messages, "LATER_BATCH_COUNT", 2)
    monkeypatch.setattr(run, "BATCH_COUNT", 2)
    return engine.add_imap_account(dovecot, user, password)


def _full_pass_in_process(engine, account: dict) -> int:
    """One full pass of the account's sync in this process; how many messages it added."""
    from test_conflicts import connected_sync

    with connected_sync(engine, account) as (_, sync, client):
        return sync.full_pass(client).added


def test_the_worker_moves_on_while_the_folder_before_is_stored(
    dovecot, offline_engine, monkeypatch
):
    """The first folder's newest batch is stored before anything else (the account shows
    mail soonest). In the folders after it, the worker is given its next batch before this
    process parses and stores the folder's first; and a folder's last batch is stored only
    once the worker has the next folder's first, so the worker never waits at a folder's
    start. Every message still lands in its own folder, and a folder is marked synced up to
    its UIDNEXT only once all of its mail is stored."""

    from nylas_engine.store import prepare
    from nylas_engine.store.models import Category
    from nylas_engine.sync import messages

    account = _two_folders_in_small_batches(dovecot, offline_engine, monkeypatch, 7)
    events: list[tuple[str, str, int | None]] = []
    real_map, real_store = prepare.PreparePool.map, messages.FolderSync._store_batch
    real_mark = messages.FolderSync._mark_synced

    def map_spy(pool, function, batch, access, *args, **kwargs):
        events.append(("worker", access.folder, len(batch)))
        return real_map(pool, function, batch, access, *args, **kwargs)

    def folder_of(folder_sync) -> str:
        with folder_sync.db.session() as session:
            return session.get(Category, folder_sync.category_id).remote_name

    def store_spy(folder_sync, preparing):
        added = real_store(folder_sync, preparing)
        events.append(("stored", folder_of(folder_sync), added))
        return added

    def mark_spy(folder_sync, *args):
        real_mark(folder_sync, *args)
        events.append(("marked", folder_of(folder_sync), None))

    monkeypatch.setattr(prepare.PreparePool, "map", map_spy)
    monkeypatch.setattr(messages.FolderSync, "_store_batch", store_spy)
    monkeypatch.setattr(messages.FolderSync, "_mark_synced", mark_spy)
    assert _full_pass_in_process(offline_engine, account) == 14

    inbox = [e for e in events if e[1] == "INBOX"]
    archive = [e for e in events if e[1] == "Archive"]
    # Inbox (7 messages: batches of 2, 2, 2, 1): its first batch stored before the worker
    # is asked, its last (1) after the worker was asked for Archive's second (2).
    assert inbox == [
        ("stored", "INBOX", 2),
        ("worker", "INBOX", 2),
        ("worker", "INBOX", 2),
        ("stored", "INBOX", 2),
        ("worker", "INBOX", 1),
        ("stored", "INBOX", 2),
        ("stored", "INBOX", 1),
        ("marked", "INBOX", None),
    ], events
    assert events.index(("worker", "Archive", 2)) < events.index(("stored", "INBOX", 1))
    # Archive: the worker asked before its first batch is stored; its last batch is stored
    # at the end of the pass, and only then is the folder marked synced.
    assert archive[0] == ("worker", "Archive", 2), events
    assert archive[-2:] == [("stored", "Archive", 1), ("marked", "Archive", None)], events
    assert sum(e[2] or 0 for e in events if e[0] == "stored") == 14
    with offline_engine.client(account["id"]) as api:
        for name in ("inbox", "archive"):
            listed = api.get("/messages", params={"in": name, "limit": 50}).json()
            assert {m["subject"] for m in listed} == {f"{name} {i}" for i in range(7)}


def test_a_folders_last_batch_the_worker_drops_is_fetched_from_its_own_folder(
    dovecot, offline_engine, monkeypatch
):
    """A folder's last batch is stored while the next folders are synced over the same
    connection; when the worker fails it (here: the batch never reaches a worker), it is
    FETCHed over this connection from its own folder, selected again, not from whichever
    folder is selected by then (the UIDs would name other messages there)."""

    from nylas_engine.store import prepare

    account = _two_folders_in_small_batches(dovecot, offline_engine, monkeypatch, 5)
    real_map = prepare.PreparePool.map
    dropped: list[list[int]] = []

    def map_spy(pool, function, batch, access, *args, fallback):
        if access.folder == "INBOX" and len(batch) == 1:  # the inbox's last batch
            dropped.append(batch)
            return prepare.Preparing(fallback)  # as after a worker died: done here
        return real_map(pool, function, batch, access, *args, fallback=fallback)

    monkeypatch.setattr(prepare.PreparePool, "map", map_spy)
    assert _full_pass_in_process(offline_engine, account) == 10
    assert len(dropped) == 1
    with offline_engine.client(account["id"]) as api:
        for name in ("inbox", "archive"):
            listed = api.get("/messages", params={"in": name, "limit": 50}).json()
            assert sorted(m["subject"] for m in listed) == [f"{name} {i}" for i in range(5)]


@pytest.mark.parametrize("refused", ["INBOX", "Archive"])
def test_a_refusal_while_a_folders_last_batch_is_stored_skips_that_folder_only(
    dovecot, offline_engine, monkeypatch, refused
):
    """A folder's last batch is stored while the next folder syncs (the inbox's) or at the
    pass's end (the last folder's). When the worker failed that batch and the server refuses
    the folder's SELECT as it is fetched again here (injected: the folder gone meanwhile),
    that folder is the one skipped: the folder syncing meanwhile gets all its mail, the pass
    ends, and the skipped folder, not marked synced, gets its missing mail on the next pass."""

    from imapclient.exceptions import IMAPClientError
    from test_conflicts import connected_sync

    from nylas_engine.store import prepare
    from nylas_engine.store.models import Category

    account = _two_folders_in_small_batches(dovecot, offline_engine, monkeypatch, 5)
    real_map = prepare.PreparePool.map

    def map_spy(pool, function, batch, access, *args, fallback):
        if access.folder == refused and len(batch) == 1:  # the folder's last batch

            def refuse():
                raise IMAPClientError("select failed: Mailbox doesn't exist")

            return prepare.Preparing(refuse)  # as after a worker died, and then a NO
        return real_map(pool, function, batch, access, *args, fallback=fallback)

    monkeypatch.setattr(prepare.PreparePool, "map", map_spy)
    with connected_sync(offline_engine, account) as (ctx, sync, client):
        assert sync.full_pass(client).added == 9
        with ctx.db.session() as session:
            skipped = {session.get(Category, c).remote_name for c in sync.refused}
        assert skipped == {refused}
        with offline_engine.client(account["id"]) as api:
            for name in ("inbox", "archive"):
                listed = api.get("/messages", params={"in": name, "limit": 50}).json()
                assert len(listed) == (4 if name == refused.lower() else 5), name
        monkeypatch.setattr(prepare.PreparePool, "map", real_map)
        assert sync.full_pass(client).added == 1
        assert sync.refused == set()
    with offline_engine.client(account["id"]) as api:
        for name in ("inbox", "archive"):
            listed = api.get("/messages", params={"in": name, "limit": 50}).json()
            assert sorted(m["subject"] for m in listed) == [f"{name} {i}" for i in range(5)]


def test_a_worker_opens_the_next_folder_on_the_connection_it_has(dovecot, tmp_path):
    """A sync's worker moves from folder to folder on one IMAP connection (no new TCP, TLS
    and login for each), its FETCH sent behind the EXAMINE; a folder the server refuses to
    open leaves no connection behind, and the next folder gets a fresh one."""
    from test_folder_reads import wire_events

    from nylas_engine.sync import fetch

    user, password = dovecot.new_user()
    inbox_uids = dovecot.append(user, [samples.plain(f"in {i}", user, minutes=i) for i in range(3)])
    archive_uids = dovecot.append(
        user, [samples.plain(f"kept {i}", user, minutes=i) for i in range(2)], "Archive"
    )
    with dovecot.client(user, password) as imap:
        validity = {
            name: int(imap.select_folder(name, readonly=True)[b"UIDVALIDITY"])
            for name in ("INBOX", "Archive")
        }
    blobs = BlobStore(tmp_path / "blobs")
    inbox = _access(dovecot, user, password, validity["INBOX"])
    archive = FolderAccess(inbox.settings, inbox.credentials, "Archive", validity["Archive"], ITEMS)
    try:
        got = fetch.fetch_in_worker(inbox_uids, inbox, blobs.root)
        assert [f.parsed.subject for f in got] == ["in 0", "in 1", "in 2"]
        first = fetch._OPEN[inbox.settings][0]
        wire = wire_events(first)
        got = fetch.fetch_in_worker(archive_uids, archive, blobs.root)
        assert [f.parsed.subject for f in got] == ["kept 0", "kept 1"]
        assert fetch._OPEN[inbox.settings] == (first, "Archive")  # the same connection
        # The FETCH went out right behind the EXAMINE, before its reply: one round trip.
        assert wire == ["send EXAMINE", "send UID", "read"], wire

        missing = FolderAccess(inbox.settings, inbox.credentials, "Nowhere", 1, ITEMS)
        with pytest.raises(Exception, match="(?i)nowhere|mailbox"):
            fetch.fetch_in_worker([1], missing, blobs.root)
        assert inbox.settings not in fetch._OPEN
        got = fetch.fetch_in_worker(inbox_uids[:1], inbox, blobs.root)
        assert [f.parsed.subject for f in got] == ["in 0"]
        assert fetch._OPEN[inbox.settings][0] is not first
    finally:
        fetch._drop(inbox)


def _commands_with_a_transaction_open(ctx, monkeypatch) -> list[tuple[str, int]]:
    """From now on, every IMAP command this process sends, with how many database
    connections are checked out of the pool as it goes (an open session holds one)."""
    import imaplib

    pool = ctx.db.engine.pool
    sent: list[tuple[str, int]] = []
    real_command = imaplib.IMAP4._command

    def command(imap, name, *args):
        sent.append((name, pool.checkedout()))
        return real_command(imap, name, *args)

    monkeypatch.setattr(imaplib.IMAP4, "_command", command)
    return sent


def test_a_sync_holds_no_database_transaction_while_it_talks_to_the_server(
    dovecot, offline_engine, monkeypatch
):
    """Every IMAP command of a first sync (through the worker, in batches), of the
    write-back of API changes (flags, a move, a new folder and a rename, a draft) and of
    the check of every folder's STATUS is sent with no database connection checked out in
    this process: no transaction stays open while the server takes its time (on PostgreSQL
    an open one holds back vacuum and row locks; on SQLite a reader's snapshot holds back
    the checkpoint)."""
    from test_conflicts import connected_sync

    from nylas_engine.sync.drafts import sync_drafts
    from nylas_engine.sync.writeback import WriteBack

    account = _two_folders_in_small_batches(dovecot, offline_engine, monkeypatch, 5)
    with connected_sync(offline_engine, account) as (ctx, sync, client):
        sent = _commands_with_a_transaction_open(ctx, monkeypatch)
        assert sync.full_pass(client).added == 10
        with offline_engine.client(account["id"]) as api:
            inbox = api.get("/messages", params={"in": "inbox", "limit": 2}).json()
            archive = next(f for f in api.get("/folders").json() if f["name"] == "archive")
            api.put(f"/messages/{inbox[0]['id']}", json={"unread": False, "starred": True})
            api.put(f"/messages/{inbox[1]['id']}", json={"folder_id": archive["id"]})
            made = api.post("/folders", json={"display_name": "Projects"}).json()
            api.put(f"/folders/{made['id']}", json={"display_name": "Clients"})
            api.post("/drafts", json={"subject": "Unsent", "body": "Not yet"})
        writeback = WriteBack(ctx, sync.account_id)
        writeback.folders(client)
        writeback.run(client)
        sync_drafts(ctx, sync.account_id, client)
        sync.changed_folders(client)
        sync.full_pass(client)
    names = {name for name, _ in sent}
    assert {"LIST", "EXAMINE", "UID", "CREATE", "APPEND"} <= names, names
    assert [(name, n) for name, n in sent if n] == []


def _sent_fetches(monkeypatch) -> list[str]:
    """The UID sets of the FETCH commands this process sends from now on."""
    import imaplib

    sent: list[str] = []
    real = imaplib.IMAP4._command

    def command(self, name, *args):
        if name == "UID" and args[0] == "FETCH":
            sent.append(args[1])
        return real(self, name, *args)

    monkeypatch.setattr(imaplib.IMAP4, "_command", command)
    return sent


def test_a_worker_fetches_the_batch_it_is_told_comes_next_while_it_parses(
    dovecot, mailbox, tmp_path, monkeypatch
):
    """Told the next batch's UIDs, a worker sends their FETCH before parsing the batch it
    has: the next call reads that reply instead of asking (a round trip less per batch on a
    distant server). What it returns is what a plain FETCH returns; a call for anything else
    drops the reply and still gets its own messages, also after a flag changed."""
    from nylas_engine.sync import fetch

    user, password = mailbox
    uids = dovecot.append(user, [samples.plain(f"note {i}", user) for i in range(6)])
    archived = dovecot.append(user, [samples.plain("archived", user)], "Archive")
    with dovecot.client(user, password) as imap:
        archive_validity = int(imap.select_folder("Archive", readonly=True)[b"UIDVALIDITY"])
        validity = int(imap.select_folder("INBOX", readonly=True)[b"UIDVALIDITY"])
        expected = {f.uid: f.parsed.subject for f in fetch_here(imap, uids, ITEMS)}
    access = _access(dovecot, user, password, validity)
    first, second, third = uids[:2], uids[2:4], uids[4:]
    sent = _sent_fetches(monkeypatch)
    try:
        got = fetch_in_worker(first, access, tmp_path / "blobs", ahead=second)
        assert sent == [",".join(map(str, first)), ",".join(map(str, second))]
        got += fetch_in_worker(second, access, tmp_path / "blobs", ahead=third)
        assert len(sent) == 3  # the second batch was not asked for again
        with dovecot.client(user, password) as imap:  # changed after the third was sent
            imap.select_folder("INBOX")
            imap.add_flags(third, [b"\\Flagged"])
        # Asked for other UIDs than were sent ahead: the reply is dropped, these FETCHed.
        got += fetch_in_worker(third[::-1], access, tmp_path / "blobs")
        assert len(sent) == 4
        assert {f.uid: f.parsed.subject for f in got} == expected
        assert [f.uid for f in got[4:]] == third[::-1]
        assert all("\\Flagged" in f.flags for f in got[4:])
        # Sent ahead, then the worker is told to open another folder before its first batch
        # comes (`open_in_worker`, while the engine stores that folder's first batch): the
        # reply is dropped there, and the batch finds the folder open.
        fetch_in_worker(first, access, tmp_path / "blobs", ahead=second)
        other = FolderAccess(
            access.settings, access.credentials, "Archive", archive_validity, ITEMS
        )
        fetch.open_in_worker(other)
        assert fetch._OPEN[access.settings][1] == "Archive" and not fetch._AHEAD
        opened = len(sent)
        (moved,) = fetch_in_worker(archived, other, tmp_path / "blobs")
        assert moved.parsed.subject == "archived"
        assert sent[opened:] == [str(archived[0])]
    finally:
        fetch._drop_key(access.settings)


def test_a_reply_sent_ahead_that_never_comes_leaves_the_next_call_its_own_fetch(
    dovecot, mailbox, tmp_path, monkeypatch
):
    """The connection a FETCH was sent ahead on breaks before its reply is read: the next
    call opens a new connection and FETCHes its messages there, as if nothing was sent."""
    import imaplib

    from nylas_engine.sync import fetch

    user, password = mailbox
    uids = dovecot.append(user, [samples.plain(f"note {i}", user) for i in range(4)])
    with dovecot.client(user, password) as imap:
        validity = int(imap.select_folder("INBOX", readonly=True)[b"UIDVALIDITY"])
    access = _access(dovecot, user, password, validity)
    try:
        fetch_in_worker(uids[:2], access, tmp_path / "blobs", ahead=uids[2:])
        broken = fetch._OPEN[access.settings][0]

        def dropped(*_: object) -> None:  # as imaplib says the network dropped it
            raise imaplib.IMAP4.abort("socket error: EOF")

        broken._imap._command_complete = dropped
        sent = _sent_fetches(monkeypatch)
        got = fetch_in_worker(uids[2:], access, tmp_path / "blobs")
        assert [f.parsed.subject for f in got] == ["note 2", "note 3"]
        assert sent == [",".join(map(str, uids[2:]))]
        assert fetch._OPEN[access.settings][0] is not broken
    finally:
        fetch._drop_key(access.settings)


def test_a_batch_whose_messages_are_all_gone_takes_one_fetch(dovecot, tmp_path, monkeypatch):
    """A worker's batch whose messages were all expunged since the folder was listed comes
    back empty from its one FETCH (sent behind the EXAMINE); an empty reply used to read as
    one of another shape, FETCHed again and then read by imapclient's parser."""
    from nylas_engine.sync import fetch

    user, password = dovecot.new_user()
    dovecot.append(user, [samples.plain("still here", user)])
    with dovecot.client(user, password) as imap:
        validity = int(imap.select_folder("INBOX", readonly=True)[b"UIDVALIDITY"])
    access = _access(dovecot, user, password, validity)
    sent = _sent_fetches(monkeypatch)
    try:
        assert fetch_in_worker([9998, 9999], access, tmp_path / "blobs") == []
    finally:
        fetch._drop(access)
    assert sent == ["9998,9999"], sent
