"""A change made on the server and one made through the API at the same time: the server wins.

"At the same time" means within one poll window: another IMAP client changes a message, and
before the engine has looked at that folder again, the user changes the same message through
the API. The engine runs here with a poll interval far longer than any test, so it only
learns of the server's change when it writes the API's change back; the messages live
outside the inbox, where IDLE would tell it at once. Whatever the order, the API and the
server end up agreeing, on what the server said.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import samples
from dovecot import Dovecot
from sync_engines import SyncEngine
from test_live_sync import eventually
from test_live_sync import linked_folders as _linked

SLOW = {
    "NYLAS_ENGINE_SYNC_POLL": "600",  # no full pass during a test unless the engine needs one
    "NYLAS_ENGINE_SYNC_SCAN": "0.5",
    "NYLAS_ENGINE_SYNC_RETRY": "0.5",
}


@pytest.fixture(scope="module")
def slow_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SyncEngine]:
    engine = SyncEngine(tmp_path_factory.mktemp("conflicts"), env=dict(SLOW))
    engine.start()
    yield engine
    engine.close()


class Mailbox:
    """The user's mailbox as another IMAP client sees it."""

    def __init__(self, server: Dovecot, user: str, password: str) -> None:
        self.server, self.user, self.password = server, user, password

    def uids(self, folder: str, subject: str) -> list[int]:
        with self.server.client(self.user, self.password) as other:
            other.select_folder(folder, readonly=True)
            return list(other.search(["SUBJECT", subject]))

    def folders_of(self, subject: str) -> list[str]:
        """Every folder holding a copy, once per copy."""
        found = []
        with self.server.client(self.user, self.password) as other:
            for _, _, name in other.list_folders():
                other.select_folder(name, readonly=True)
                found += [name] * len(other.search(["SUBJECT", subject]))
        return sorted(found)

    def flags(self, folder: str, subject: str) -> set[bytes]:
        with self.server.client(self.user, self.password) as other:
            other.select_folder(folder, readonly=True)
            (uid,) = other.search(["SUBJECT", subject])
            return set(other.get_flags([uid])[uid]) - {b"\\Recent"}

    def add_flags(self, folder: str, subject: str, flags: list[bytes]) -> None:
        with self.server.client(self.user, self.password) as other:
            other.select_folder(folder)
            other.add_flags(other.search(["SUBJECT", subject]), flags)

    def move(self, folder: str, subject: str, target: str) -> None:
        with self.server.client(self.user, self.password) as other:
            other.select_folder(folder)
            uids = other.search(["SUBJECT", subject])
            if b"MOVE" in other.capabilities():
                other.move(uids, target)
            else:
                other.copy(uids, target)
                other.delete_messages(uids)
                other.expunge()

    def expunge(self, folder: str, subject: str) -> None:
        with self.server.client(self.user, self.password) as other:
            other.select_folder(folder)
            other.delete_messages(other.search(["SUBJECT", subject]))
            other.expunge()


def _connect(engine: SyncEngine, server: Dovecot, folder: str, subjects: list[str], *extra: str):
    """A fresh mailbox holding `subjects` in `folder`, added to the engine and synced."""
    # The old server's users have other addresses than the modern one's (Dovecot gives each
    # instance its own user prefix): the engine knows accounts by address.
    user, password = server.new_user()
    messages = [samples.plain(s, user, minutes=n) for n, s in enumerate(subjects)]
    server.append(user, messages, folder, password=password)
    account = engine.add_imap_account(server, user, password, *extra)
    return account, Mailbox(server, user, password)


def _by_subject(api, **params: str) -> dict[str, dict[str, Any]]:
    return {m["subject"]: m for m in api.get("/messages", params=params).json()}


def _folder_ids(api) -> dict[str, str]:
    return {f["name"] or f["display_name"]: f["id"] for f in api.get("/folders").json()}


def _folder(api, message_id: str) -> str | None:
    response = api.get(f"/messages/{message_id}")
    if response.status_code == 404:
        return "(deleted)"
    folder = response.json().get("folder")
    return folder["name"] if folder else None


def _roles(api, message_id: str) -> list[str]:
    """The message's folder (a folder account) or labels (a label account), by role."""
    message = api.get(f"/messages/{message_id}").json()
    held = message.get("labels") or ([message["folder"]] if message.get("folder") else [])
    return sorted(c["name"] or c["display_name"] for c in held)


def _synced(api, folder: str, count: int) -> dict[str, dict[str, Any]]:
    return eventually(
        lambda: len(got := _by_subject(api, **{"in": folder})) == count and got, "the first sync"
    )


# ---------------------------------------------------------------------------------- flags


def test_flags_changed_on_both_sides_end_as_the_server_has_them(server, offline_engine):
    """Both sides change one message between two looks of the sync: the server's flags win,
    in the API as on the server. The write-back runs in-process so that it comes after both
    changes (live, whether the sync sees the server's change before the API's is a race; seen
    first, there is no conflict and both changes stand)."""

    account, mailbox = _connect(offline_engine, server, "Archive", ["Both sides"])
    offline_engine.cli("sync", account["id"], "--once", "--json")
    with offline_engine.client(account["id"]) as api:
        (message,) = api.get("/messages").json()
        assert (message["unread"], message["starred"]) == (True, False)

        mailbox.add_flags("Archive", "Both sides", [b"\\Seen"])  # read in another client
        changed = api.put(f"/messages/{message['id']}", json={"starred": True})
        assert changed.status_code == 200

        _write_back(offline_engine, account, lambda writeback, client: writeback.run(client))

        after = api.get(f"/messages/{message['id']}").json()
        assert (after["unread"], after["starred"]) == (False, False)
        assert mailbox.flags("Archive", "Both sides") == {b"\\Seen"}


def test_api_flags_reach_the_server_when_the_server_did_not_change_that_message(
    server, slow_engine
):
    account, mailbox = _connect(slow_engine, server, "Archive", ["Mine", "Theirs"])
    with slow_engine.client(account["id"]) as api:
        synced = _synced(api, "archive", 2)
        # Another client changes a different message of the same folder.
        mailbox.add_flags("Archive", "Theirs", [b"\\Flagged"])
        mine = synced["Mine"]
        assert api.put(f"/messages/{mine['id']}", json={"unread": False}).status_code == 200
        assert api.put(f"/messages/{mine['id']}", json={"starred": True}).status_code == 200

        eventually(
            lambda: mailbox.flags("Archive", "Mine") == {b"\\Seen", b"\\Flagged"},
            "the API's flags on the server",
        )
        after = api.get(f"/messages/{mine['id']}").json()
        assert (after["unread"], after["starred"]) == (False, True)
        assert mailbox.flags("Archive", "Theirs") == {b"\\Flagged"}


# ---------------------------------------------------------------------------------- moves


def test_api_move_and_server_move_of_one_message_end_in_the_servers_folder(server, slow_engine):
    account, mailbox = _connect(slow_engine, server, "Archive", ["Contested"])
    with slow_engine.client(account["id"]) as api:
        message = _synced(api, "archive", 1)["Contested"]

        mailbox.move("Archive", "Contested", "Junk")  # filed as junk in another client
        inbox = _folder_ids(api)["inbox"]
        assert api.put(f"/messages/{message['id']}", json={"folder_id": inbox}).status_code == 200

        # The API's move reaches a server where the message has gone from Archive: the
        # server's folder wins. (Should the engine have seen the server's move before the
        # API's arrived, which a loaded machine allows, the API's move is the later one and
        # is carried out.) Either way the API and the server agree, on one copy.
        agreed = {("spam", ("Junk",)), ("inbox", ("INBOX",))}

        def settled() -> bool:
            where = (_folder(api, message["id"]), tuple(mailbox.folders_of("Contested")))
            linked = tuple(_linked(slow_engine, message["id"]))
            return where in agreed and linked == where[1]

        eventually(settled, "the API, the engine's copy and the server in one folder")
        assert list(_by_subject(api)) == ["Contested"]  # one message, not two


def test_a_message_read_on_the_server_still_moves_as_the_api_asked(server, offline_engine):
    """Flags and folders are separate questions: the server's \\Seen wins over the API's
    star, and the API's move, which the server did not contradict, goes ahead. The write-back
    runs in-process after both changes, as in the flag test above (live, a sync that sees the
    \\Seen first leaves no conflict, and the star rightly stands: CI saw that order once)."""
    from nylas_engine.sync.imap import close_quietly
    from nylas_engine.sync.run import AccountSync
    from nylas_engine.sync.writeback import WriteBack

    account, mailbox = _connect(offline_engine, server, "Archive", ["File and read"])
    offline_engine.cli("sync", account["id"], "--once", "--json")
    with offline_engine.client(account["id"]) as api:
        (message,) = api.get("/messages").json()

        mailbox.add_flags("Archive", "File and read", [b"\\Seen"])
        inbox = _folder_ids(api)["inbox"]
        changed = api.put(f"/messages/{message['id']}", json={"folder_id": inbox, "starred": True})
        assert changed.status_code == 200

        ctx, account_id = _in_process(offline_engine, account)
        sync = AccountSync(ctx, account_id)
        client = sync.connect()
        try:
            writeback = WriteBack(ctx, account_id)
            if writeback.settle(writeback.run(client), set()):
                sync.full_pass(client)
        finally:
            close_quietly(client)

        assert mailbox.folders_of("File and read") == ["INBOX"]
        assert _linked(offline_engine, message["id"]) == ["INBOX"]
        after = api.get(f"/messages/{message['id']}").json()
        assert (after["folder"]["name"], after["unread"], after["starred"]) == (
            "inbox",
            False,
            False,
        )
        assert mailbox.flags("INBOX", "File and read") == {b"\\Seen"}


def test_api_move_of_a_message_deleted_on_the_server_ends_as_the_server_says(server, slow_engine):
    account, mailbox = _connect(slow_engine, server, "Archive", ["Trashed", "Expunged", "Moved"])
    with slow_engine.client(account["id"]) as api:
        synced = _synced(api, "archive", 3)

        mailbox.move("Archive", "Trashed", "Trash")  # deleted in a client that keeps a Trash
        mailbox.expunge("Archive", "Expunged")  # deleted for good
        inbox = _folder_ids(api)["inbox"]
        for subject in ("Trashed", "Expunged", "Moved"):
            moved = api.put(f"/messages/{synced[subject]['id']}", json={"folder_id": inbox})
            # A 404 for Expunged: the engine had seen the expunge already (a loaded machine
            # allows it).
            assert moved.status_code == 200 or (subject, moved.status_code) == ("Expunged", 404)

        # The server's Trash wins over the API's move (or, had the engine seen the server's
        # move first, the API's later move is carried out): the API and the server agree.
        agreed = {("trash", ("Trash",)), ("inbox", ("INBOX",))}
        seen: list[Any] = []

        def trashed() -> bool:
            where = (_folder(api, synced["Trashed"]["id"]), tuple(mailbox.folders_of("Trashed")))
            seen[:] = [where, _linked(slow_engine, synced["Trashed"]["id"])]
            return where in agreed

        try:
            eventually(trashed, "Trashed in one folder, the same in the API and on the server")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; (API, server), linked: {seen}") from None
        eventually(
            lambda: api.get(f"/messages/{synced['Expunged']['id']}").status_code == 404,
            "Expunged gone from the API",
        )
        # The message the server left alone moves as the API asked.
        eventually(lambda: mailbox.folders_of("Moved") == ["INBOX"], "Moved in INBOX on the server")
        assert _folder(api, synced["Moved"]["id"]) == "inbox"
        assert mailbox.folders_of("Expunged") == []
        assert sorted(_by_subject(api)) == ["Moved", "Trashed"]


def test_a_message_left_in_the_servers_folder_and_the_apis_ends_in_the_servers(server, slow_engine):
    """The sync linking a copy the server moved and the API moving the message, in two
    transactions that cross, can leave it in both folders (seen once under load). Made here
    directly in the database: the next write-back sets it back to the server's folder and
    still writes the API's flag."""
    from nylas_engine.store.models import Category, Message, message_categories

    account, mailbox = _connect(slow_engine, server, "Archive", ["Crossed"])
    with slow_engine.client(account["id"]) as api:
        message = _synced(api, "archive", 1)["Crossed"]
        with slow_engine.db.session() as session:
            row = session.query(Message).filter(Message.public_id == message["id"]).one()
            inbox = (
                session.query(Category)
                .filter(Category.account_id == row.account_id, Category.name == "inbox")
                .one()
            )
            session.execute(
                message_categories.insert().values(message_id=row.id, category_id=inbox.id)
            )
        assert "Crossed" in _by_subject(api, **{"in": "inbox"})  # in both, as the race left it

        assert api.put(f"/messages/{message['id']}", json={"starred": True}).status_code == 200
        eventually(
            lambda: not _by_subject(api, **{"in": "inbox"}), "gone from the inbox in the API"
        )
        eventually(
            lambda: mailbox.flags("Archive", "Crossed") >= {b"\\Flagged"},
            "the API's flag on the server",
        )
        assert _folder(api, message["id"]) == "archive"
        assert mailbox.folders_of("Crossed") == ["Archive"]


def test_changes_made_while_the_worker_was_down_reach_the_server_unless_the_server_changed_them(
    dovecot, tmp_path
):
    user, password = dovecot.new_user()
    subjects = ["Star me", "Move me", "Contested move", "Contested flags"]
    dovecot.append(user, [samples.plain(s, user) for s in subjects], "Archive")
    mailbox = Mailbox(dovecot, user, password)
    engine = SyncEngine(tmp_path / "engine", env=dict(SLOW))
    engine.start()
    try:
        account = engine.add_imap_account(dovecot, user, password)
        with engine.client(account["id"]) as api:
            synced = _synced(api, "archive", 4)
        engine.stop()
        engine.env = {"NYLAS_ENGINE_SYNC": "0"}  # the API answers, nothing syncs
        engine.start()
        with engine.client(account["id"]) as api:
            inbox = _folder_ids(api)["inbox"]
            ids = {s: synced[s]["id"] for s in subjects}
            assert api.put(f"/messages/{ids['Star me']}", json={"starred": True}).status_code == 200
            for subject in ("Move me", "Contested move"):
                moved = api.put(f"/messages/{ids[subject]}", json={"folder_id": inbox})
                assert moved.status_code == 200
            assert (
                api.put(f"/messages/{ids['Contested flags']}", json={"starred": True}).status_code
                == 200
            )
        mailbox.move("Archive", "Contested move", "Junk")
        mailbox.add_flags("Archive", "Contested flags", [b"\\Seen"])
        engine.stop()
        engine.env = dict(SLOW)
        engine.start()

        with engine.client(account["id"]) as api:
            eventually(lambda: mailbox.folders_of("Move me") == ["INBOX"], "Move me in INBOX")
            eventually(lambda: b"\\Flagged" in mailbox.flags("Archive", "Star me"), "the star")
            eventually(lambda: _folder(api, ids["Contested move"]) == "spam", "the server's move")
            assert _folder(api, ids["Move me"]) == "inbox"
            assert mailbox.folders_of("Contested move") == ["Junk"]
            contested = api.get(f"/messages/{ids['Contested flags']}").json()
            assert (contested["unread"], contested["starred"]) == (False, False)
            assert mailbox.flags("Archive", "Contested flags") == {b"\\Seen"}
    finally:
        engine.close()


# ---------------------------------------------------------------------------------- sent


def _send(api, to: str, subject: str) -> dict[str, Any]:
    sent = api.post("/send", json={"to": [{"email": to}], "subject": subject, "body": "<p>Hi</p>"})
    assert sent.status_code == 200, sent.text
    result: dict[str, Any] = sent.json()
    return result


def _one_more_write_back(api, mailbox: Mailbox, message_id: str, subject: str) -> None:
    """Star the sent message and wait for the star on the server: a later write-back pass
    has run, so anything it would append twice would be there by now."""
    assert api.put(f"/messages/{message_id}", json={"starred": True}).status_code == 200
    eventually(lambda: b"\\Flagged" in mailbox.flags("Sent", subject), "the star on the sent copy")


def test_mail_sent_through_the_api_is_filed_in_sent_promptly_and_once(
    dovecot, smtp_relay, slow_engine
):
    bob, _ = dovecot.new_user()
    account, mailbox = _connect(
        slow_engine, dovecot, "INBOX", ["Hello"],
        "--smtp-host", smtp_relay.host, "--smtp-port", str(smtp_relay.port),
    )  # fmt: skip
    with slow_engine.client(account["id"]) as api:
        _synced(api, "inbox", 1)
        sent = _send(api, bob, "Minutes of the meeting")
        # Long before the next full pass (600 s away).
        eventually(lambda: _linked(slow_engine, sent["id"]) == ["Sent"], "the copy in Sent")
        assert mailbox.folders_of("Minutes of the meeting") == ["Sent"]
        _one_more_write_back(api, mailbox, sent["id"], "Minutes of the meeting")
        assert mailbox.folders_of("Minutes of the meeting") == ["Sent"]
        assert [m["id"] for m in api.get("/messages", params={"in": "sent"}).json()] == [sent["id"]]


def test_a_sent_copy_the_server_files_itself_is_not_appended_again(
    dovecot, smtp_relay, slow_engine
):
    bob, bob_password = dovecot.new_user()
    account, mailbox = _connect(
        slow_engine, dovecot, "INBOX", ["Hello"],
        "--smtp-host", smtp_relay.host, "--smtp-port", str(smtp_relay.port),
    )  # fmt: skip
    with slow_engine.client(account["id"]) as api:
        _synced(api, "inbox", 1)
        sent = _send(api, bob, "Filed by the server")
        # Like Gmail: the server puts what went through it into Sent (with its own headers
        # added, so the bytes differ from what the engine sent; the Message-ID is the same).
        with dovecot.client(bob, bob_password) as bobs:
            bobs.select_folder("INBOX", readonly=True)
            (uid,) = bobs.search(["SUBJECT", "Filed by the server"])
            raw = bobs.fetch([uid], ["BODY.PEEK[]"])[uid][b"BODY[]"]
        dovecot.append(mailbox.user, [raw], "Sent", flags=[b"\\Seen"])

        eventually(lambda: _linked(slow_engine, sent["id"]) == ["Sent"], "the server's copy linked")
        _one_more_write_back(api, mailbox, sent["id"], "Filed by the server")
        assert mailbox.folders_of("Filed by the server") == ["Sent"]
        assert [m["id"] for m in api.get("/messages", params={"in": "sent"}).json()] == [sent["id"]]


# ---------------------------------------------------------------------------------- the gap


class _ChangedAfterLooking:
    """An IMAP connection on which another client changes the mailbox right after the first
    FETCH: the write-back's look at the flags and its STORE are one round trip apart, too
    short to hit from outside, so the test widens that gap."""

    def __init__(self, client: Any, change: Callable[[], None]) -> None:
        self._client = client
        self._change: Callable[[], None] | None = change

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def fetch(self, *args: Any, **kwargs: Any) -> Any:
        result = self._client.fetch(*args, **kwargs)
        if self._change is not None:
            self._change()
            self._change = None
        return result


def _write_back(engine: SyncEngine, account: dict[str, Any], step: Callable[..., Any]) -> None:
    """`step(writeback, client)`: a part of the account's write-back run here, over an IMAP
    connection of its own (the engine runs no sync)."""
    from nylas_engine.sync.imap import close_quietly
    from nylas_engine.sync.run import AccountSync
    from nylas_engine.sync.writeback import WriteBack

    ctx, account_id = _in_process(engine, account)
    client = AccountSync(ctx, account_id).connect()
    try:
        step(WriteBack(ctx, account_id), client)
    finally:
        close_quietly(client)


def _in_process(engine: SyncEngine, account: dict[str, Any]) -> tuple[Any, int]:
    """The engine's context and the account's row id, to drive its sync from the test."""
    from nylas_engine.config import Settings
    from nylas_engine.context import EngineContext
    from nylas_engine.store.blobs import BlobStore
    from nylas_engine.store.models import Account

    settings = Settings(data_dir=engine.data_dir)
    ctx = EngineContext(settings, engine.db, BlobStore(settings.blob_dir))
    with ctx.db.session() as session:
        account_id = session.query(Account.id).filter_by(public_id=account["id"]).scalar()
    return ctx, account_id


@contextlib.contextmanager
def connected_sync(engine: SyncEngine, account: dict[str, Any]) -> Iterator[tuple[Any, Any, Any]]:
    """(context, `AccountSync`, its logged-in IMAP client): the account's sync driven from
    the test; the connection is closed afterwards."""
    from nylas_engine.sync.imap import close_quietly
    from nylas_engine.sync.run import AccountSync

    ctx, account_id = _in_process(engine, account)
    sync = AccountSync(ctx, account_id)
    client = sync.connect()
    try:
        yield ctx, sync, client
    finally:
        close_quietly(client)


def test_a_server_change_between_the_look_and_the_store_still_wins(dovecot, offline_engine):
    from nylas_engine.sync.imap import close_quietly
    from nylas_engine.sync.run import AccountSync
    from nylas_engine.sync.writeback import WriteBack

    account, mailbox = _connect(offline_engine, dovecot, "Archive", ["The gap"])
    offline_engine.cli("sync", account["id"], "--once", "--json")
    with offline_engine.client(account["id"]) as api:
        (message,) = api.get("/messages").json()
        assert api.put(f"/messages/{message['id']}", json={"starred": True}).status_code == 200

        ctx, account_id = _in_process(offline_engine, account)
        client = AccountSync(ctx, account_id).connect()
        try:
            read_elsewhere = _ChangedAfterLooking(
                client, lambda: mailbox.add_flags("Archive", "The gap", [b"\\Seen"])
            )
            WriteBack(ctx, account_id).run(read_elsewhere)
        finally:
            close_quietly(client)

        # CONDSTORE: the STORE was conditional, the server refused it, its flags won.
        assert mailbox.flags("Archive", "The gap") == {b"\\Seen"}
        after = api.get(f"/messages/{message['id']}").json()
        assert (after["unread"], after["starred"]) == (False, False)


def test_an_api_move_made_after_the_sync_saw_the_message_leave_ends_as_the_server_says(
    dovecot, offline_engine
):
    # The order a loaded machine can produce: the sync sees messages leave Archive (one
    # moved to Junk in another client, one deleted for good), the API moves both to the
    # inbox, then the sync finds the first in Junk. One folder each side, the server's; the
    # deleted one is gone from both.
    from nylas_engine.sync.imap import close_quietly
    from nylas_engine.sync.run import AccountSync
    from nylas_engine.sync.writeback import WriteBack

    account, mailbox = _connect(offline_engine, dovecot, "Archive", ["Left first", "Gone first"])
    offline_engine.cli("sync", account["id"], "--once", "--json")
    ctx, account_id = _in_process(offline_engine, account)
    sync = AccountSync(ctx, account_id)
    client = sync.connect()
    try:
        sync.full_pass(client)  # nothing new: learns the folders
        folders = {f.role or f.remote_name: f for f in sync.folders}
        mailbox.move("Archive", "Left first", "Junk")
        mailbox.expunge("Archive", "Gone first")
        sync.sync_folder(client, folders["archive"])
        with offline_engine.client(account["id"]) as api:
            ids = {m["subject"]: m["id"] for m in api.get("/messages").json()}
            inbox = _folder_ids(api)["inbox"]
            for subject in ("Left first", "Gone first"):
                moved = api.put(f"/messages/{ids[subject]}", json={"folder_id": inbox})
                assert moved.status_code == 200
            sync.sync_folder(client, folders["spam"])
            writeback = WriteBack(ctx, account_id)
            if writeback.settle(writeback.run(client), set()):
                sync.full_pass(client)

            assert _folder(api, ids["Left first"]) == "spam"
            assert mailbox.folders_of("Left first") == ["Junk"]
            assert _linked(offline_engine, ids["Left first"]) == ["Junk"]
            sync.full_pass(client)  # what the worker runs after seeing messages leave
            assert api.get(f"/messages/{ids['Gone first']}").status_code == 404
            assert mailbox.folders_of("Gone first") == []
            assert sorted(_by_subject(api)) == ["Left first"]
    finally:
        close_quietly(client)


def test_a_folder_renamed_through_the_api_keeps_its_name_until_the_server_has_it(
    server, offline_engine
):
    """A full pass that runs after an API rename but before the write-back (a pass already
    under way when the rename was committed, or `sync --once`) must not take the server's
    name back: the rename would be lost, never made on the server."""

    user, password = server.new_user()
    with server.client(user, password) as other:
        other.create_folder("Projects")
    server.append(user, [samples.plain("Kick-off", user)], "Projects", password=password)
    account = offline_engine.add_imap_account(server, user, password)
    mailbox = Mailbox(server, user, password)
    offline_engine.cli("sync", account["id"], "--once", "--json")
    with offline_engine.client(account["id"]) as api:
        folder_id = _folder_ids(api)["Projects"]
        renamed = api.put(f"/folders/{folder_id}", json={"display_name": "Projects 2027"})
        assert renamed.status_code == 200, renamed.text

        offline_engine.cli("sync", account["id"], "--once", "--json")  # a pass, no write-back
        assert api.get(f"/folders/{folder_id}").json()["display_name"] == "Projects 2027"

        _write_back(offline_engine, account, lambda writeback, client: writeback.folders(client))
        assert mailbox.folders_of("Kick-off") == ["Projects 2027"]
        offline_engine.cli("sync", account["id"], "--once", "--json")
        folder = api.get(f"/folders/{folder_id}").json()
        assert folder["display_name"] == "Projects 2027"
        (message,) = api.get("/messages", params={"in": folder_id}).json()
        assert message["subject"] == "Kick-off"


def test_a_folder_made_through_the_api_while_the_write_back_runs_is_still_written(
    dovecot, offline_engine
):
    """A folder created through the API after the write-back planned its folder changes
    but before it read the delta log for message changes: that log row must not count as
    seen, or nothing wakes the write-back for the folder again until the next full pass
    (10 minutes where the STATUS looks see every change)."""
    from nylas_engine.sync.imap import close_quietly
    from nylas_engine.sync.run import AccountSync
    from nylas_engine.sync.writeback import WriteBack

    user, password = dovecot.new_user()
    account = offline_engine.add_imap_account(dovecot, user, password)
    offline_engine.cli("sync", account["id"], "--once", "--json")
    ctx, account_id = _in_process(offline_engine, account)
    writeback = WriteBack(ctx, account_id)
    client = AccountSync(ctx, account_id).connect()
    try:
        writeback.run(client)
        assert not writeback.pending()
        assert writeback.folders(client) == []  # planned: nothing to do yet
        with offline_engine.client(account["id"]) as api:  # the API's change lands now
            made = api.post("/folders", json={"display_name": "Projects"})
            assert made.status_code == 200, made.text
        writeback.run(client)  # reads the log, the folder's row in it
        assert writeback.pending()  # still counts: the next look writes the folder
        assert [change.wanted for change in writeback.folders(client)] == ["Projects"]
    finally:
        close_quietly(client)
    with dovecot.client(user, password) as other:
        assert "Projects" in {name for _, _, name in other.list_folders()}


@pytest.mark.parametrize("kind", ["folders", "labels"])
def test_a_draft_sent_between_the_drafts_write_back_and_the_messages_stays_in_sent(
    dovecot, smtp_relay, offline_engine, kind
):
    """The worker writes the drafts back (`sync_drafts`), then the messages' changes
    (`WriteBack.run`). A draft sent through the API in between is a message in Sent whose
    copy in Drafts is still linked: that copy is the draft's, for the next drafts write-back
    to expunge, not a message to MOVE to Sent (which put the draft's bytes in Sent and, as
    they are not the sent bytes, left the sent message in no folder, for the next full pass
    to delete)."""
    from nylas_engine.sync.drafts import sync_drafts
    from nylas_engine.sync.imap import close_quietly
    from nylas_engine.sync.run import AccountSync
    from nylas_engine.sync.writeback import WriteBack

    user, password = dovecot.new_user()
    bob, _ = dovecot.new_user()
    account = offline_engine.add_imap_account(
        dovecot, user, password,
        "--smtp-host", smtp_relay.host, "--smtp-port", str(smtp_relay.port),
        *(["--labels"] if kind == "labels" else []),
    )  # fmt: skip
    mailbox = Mailbox(dovecot, user, password)
    ctx, account_id = _in_process(offline_engine, account)
    sync = AccountSync(ctx, account_id)
    client = sync.connect()
    try:
        sync.full_pass(client)
        with offline_engine.client(account["id"]) as api:
            made = api.post("/drafts", json={"subject": "Plan", "to": [{"email": bob}]})
            assert made.status_code == 200, made.text
            draft = made.json()
            assert sync_drafts(ctx, account_id, client) == "Drafts"
            drafts = sync.folder_for("Drafts")
            assert drafts is not None
            sync.sync_folder(client, drafts)
            assert mailbox.folders_of("Plan") == ["Drafts"]

            sent = api.post("/send", json={"draft_id": draft["id"], "version": draft["version"]})
            assert sent.status_code == 200, sent.text
            writeback = WriteBack(ctx, account_id)
            outcome = writeback.run(client)
            synced = {t for t in outcome.targets if sync.folder_for(t) is not None}
            for name in synced:
                folder = sync.folder_for(name)
                assert folder is not None
                sync.sync_folder(client, folder)
            if writeback.settle(outcome, synced):
                sync.full_pass(client)
            assert mailbox.folders_of("Plan") == ["Drafts"]  # not moved to Sent
            assert _roles(api, draft["id"]) == (["sent"] if kind == "folders" else ["all", "sent"])

            sync_drafts(ctx, account_id, client)  # the sent draft's copy goes
            sync.full_pass(client)
            assert mailbox.folders_of("Plan") == []
            assert [m["id"] for m in api.get("/messages", params={"in": "sent"}).json()] == [
                draft["id"]
            ]
    finally:
        close_quietly(client)
