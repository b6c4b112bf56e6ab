"""Every folder is fresh within seconds, not only the inbox.

New mail, a flag change and a delete in a folder other than the inbox reach the delta feed
while a client waits on `/delta/longpoll` for at most 5 s in all (the bound the engine
promises). The engine's full pass is set to 10 minutes here. Runs on Dovecot as it is
(NOTIFY: the server reports changes in every folder during IDLE, and the engine's timed
check is 30 s apart, so NOTIFY alone brings them), on a Dovecot that does not offer NOTIFY
(the STATUS check over every folder every `NYLAS_ENGINE_SYNC_CHECK` seconds, 2 by default;
HIGHESTMODSEQ tells flag changes), and on the oldest one (no CONDSTORE either: UIDNEXT,
MESSAGES and UNSEEN tell them).

The measured latencies are printed (`pytest -s`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import samples
from dovecot import Dovecot
from sync_engines import SyncEngine
from test_folder_reads import wire_events
from test_live_sync import eventually

BOUND = 5.0  # seconds: the longest a client waits on the longpoll for each change


MODERN_WITHOUT_NOTIFY = (
    "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ NAMESPACE UIDPLUS CHILDREN "
    "CONDSTORE QRESYNC ESEARCH MOVE SPECIAL-USE"
)


@pytest.fixture(scope="module")
def dovecot_without_notify() -> Iterator[Dovecot]:
    server = Dovecot(capabilities=MODERN_WITHOUT_NOTIFY).start()
    yield server
    server.stop()


@pytest.fixture(params=["notify", "condstore", "oldest"])
def watched(request: pytest.FixtureRequest) -> Dovecot:
    """Dovecot with NOTIFY (the shared one); with CONDSTORE but no NOTIFY; with neither."""
    fixture = {
        "notify": "dovecot",
        "condstore": "dovecot_without_notify",
        "oldest": "oldest_dovecot",
    }[request.param]
    server: Dovecot = request.getfixturevalue(fixture)
    server.kind = request.param  # type: ignore[attr-defined]
    return server


@pytest.fixture(scope="module")
def slow_poll_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SyncEngine]:
    engine = SyncEngine(
        tmp_path_factory.mktemp("slow-poll"),
        env={"NYLAS_ENGINE_SYNC_POLL": "600", "NYLAS_ENGINE_SYNC_SCAN": "0.5"},
    )
    engine.start()
    yield engine
    engine.close()


def _longpoll_until(
    api, cursor: str, found: Callable[[dict[str, Any]], bool]
) -> tuple[dict[str, Any], float, str]:
    """Wait on /delta/longpoll, following its cursor, until a delta `found` accepts arrives;
    at most BOUND seconds in all. Returns the delta, the time it took, and the next cursor."""
    start = time.monotonic()
    while True:
        left = BOUND - (time.monotonic() - start)
        assert left > 0, f"no such delta within {BOUND} s"
        reply = api.get(
            "/delta/longpoll", params={"cursor": cursor, "timeout": max(1, math.ceil(left))}
        )
        assert reply.status_code == 200, reply.text
        page = reply.json()
        cursor = page["cursor_end"]
        for delta in page["deltas"]:
            if found(delta):
                return delta, time.monotonic() - start, cursor


def test_changes_in_another_folder_reach_the_longpoll_within_seconds(watched, slow_poll_engine):
    server = watched
    with server.client(*server.new_user()) as probe:
        assert (b"NOTIFY" in probe.capabilities()) == (server.kind == "notify")
    user, password = server.new_user()
    server.append(user, [samples.plain("Already filed", user)], folder="Archive")
    account = slow_poll_engine.add_imap_account(server, user, password)
    latencies = {}

    with slow_poll_engine.client(account["id"]) as api:
        eventually(lambda: api.get("/messages").json(), "the first sync")
        cursor = api.post("/delta/latest_cursor").json()["cursor"]

        # New mail filed straight into Archive (a server-side filter would do this).
        server.append(user, [samples.plain("Filed by a rule", user, minutes=1)], folder="Archive")
        created, latencies["new mail"], cursor = _longpoll_until(
            api,
            cursor,
            lambda d: (
                d["object"] == "message"
                and d["event"] == "create"
                and d["attributes"]["subject"] == "Filed by a rule"
            ),
        )
        message_id = created["id"]
        assert created["attributes"]["folder"]["name"] == "archive"
        assert created["attributes"]["unread"] is True

        # Another client reads it there.
        with server.client(user, password) as other:
            other.select_folder("Archive")
            uid = other.search(["SUBJECT", "Filed by a rule"])[0]
            other.add_flags([uid], [b"\\Seen"])
        _, latencies["flag change"], cursor = _longpoll_until(
            api,
            cursor,
            lambda d: d["id"] == message_id and d.get("attributes", {}).get("unread") is False,
        )

        # ... and deletes it for good.
        with server.client(user, password) as other:
            other.select_folder("Archive")
            other.delete_messages([uid])
            other.expunge()
        _, latencies["delete"], cursor = _longpoll_until(
            api, cursor, lambda d: d["id"] == message_id and d["event"] == "delete"
        )
        assert api.get(f"/messages/{message_id}").status_code == 404
        assert [m["subject"] for m in api.get("/messages").json()] == ["Already filed"]

    print(
        f"\n{server.kind} server, change in Archive -> delta: "
        + ", ".join(f"{what} {seconds:.2f} s" for what, seconds in latencies.items())
    )


def test_notify_reports_met_during_a_status_check_are_kept(dovecot):
    """Under NOTIFY the server may report another folder's change in the middle of the
    engine's STATUS check; that report names the folder to sync, it is not lost."""
    from nylas_engine.sync.imap import enable_notify, status_and_notices

    user, password = dovecot.new_user()
    with dovecot.client(user, password) as watcher:
        watcher.select_folder("INBOX", readonly=True)
        assert enable_notify(watcher)
        dovecot.append(user, [samples.plain("Filed meanwhile", user)], folder="Archive")
        time.sleep(1)  # the server reports it as soon as it notices; no command asked yet
        status, others = status_and_notices(watcher, "Sent", ["MESSAGES", "UIDNEXT"])
        assert status == {b"MESSAGES": 0, b"UIDNEXT": 1}
        assert others == {"Archive"}


def test_a_folder_made_by_another_client_shows_within_seconds(dovecot, slow_poll_engine):
    """The check's LIST-STATUS (RFC 5819) also lists the folders: a new one brings a full
    pass at once, rather than at the next poll (10 minutes here)."""
    user, password = dovecot.new_user()
    account = slow_poll_engine.add_imap_account(dovecot, user, password)
    with slow_poll_engine.client(account["id"]) as api:
        eventually(lambda: api.get("/account").json().get("sync_progress"), "the first sync")
        eventually(lambda: api.get("/folders").json(), "the folders")
        cursor = api.post("/delta/latest_cursor").json()["cursor"]
        with dovecot.client(user, password) as other:
            other.create_folder("Travel")
        dovecot.append(user, [samples.plain("Boarding pass", user)], folder="Travel")
        delta, seconds, _ = _longpoll_until(
            api,
            cursor,
            lambda d: (
                d["object"] == "message"
                and d["event"] == "create"
                and d["attributes"]["subject"] == "Boarding pass"
            ),
        )
        assert delta["attributes"]["folder"]["display_name"] == "Travel"
    print(f"\nnew folder with a message in it -> delta: {seconds:.2f} s")


def test_mail_in_a_folder_made_or_renamed_through_the_api_shows_within_seconds(
    watched, slow_poll_engine
):
    """The engine's own CREATE and RENAME change the server's folder list: the folder's
    mail is seen within seconds under its new name too, not at the next full pass (10
    minutes here), whatever the server offers to watch folders with."""
    server = watched
    user, password = server.new_user()
    account = slow_poll_engine.add_imap_account(server, user, password)
    with slow_poll_engine.client(account["id"]) as api:
        eventually(lambda: api.get("/account").json().get("sync_progress"), "the first sync")
        folder = api.post("/folders", json={"display_name": "Projects"}).json()
        eventually(lambda: "Projects" in _server_folders(server, user, password), "the CREATE")
        for name in ("Projects", "Clients"):
            if name == "Clients":
                renamed = api.put(f"/folders/{folder['id']}", json={"display_name": "Clients"})
                assert renamed.status_code == 200, renamed.text
                eventually(
                    lambda: "Clients" in _server_folders(server, user, password), "the RENAME"
                )
            cursor = api.post("/delta/latest_cursor").json()["cursor"]
            subject = f"Filed in {name}"
            server.append(user, [samples.plain(subject, user)], folder=name)
            delta, _, _ = _longpoll_until(
                api,
                cursor,
                lambda d, subject=subject: (
                    d["object"] == "message"
                    and d["event"] == "create"
                    and d["attributes"]["subject"] == subject
                ),
            )
            assert delta["attributes"]["folder"]["id"] == folder["id"]


def _server_folders(server: Dovecot, user: str, password: str) -> set[str]:
    with server.client(user, password) as other:
        return {name for _, _, name in other.list_folders()}


@pytest.mark.parametrize(
    "server_fixture, lists_status", [("dovecot", True), ("dovecot_without_notify", False)]
)
def test_a_full_pass_counts_the_folders_mail_in_one_round_trip_where_the_server_can(
    request, offline_engine, server_fixture, lists_status
):
    """Before a full pass syncs the inbox it counts every folder's messages (the progress
    a client sees): with one LIST-STATUS (RFC 5819) where the server has it, not one STATUS
    per folder, a round trip each before the first mail shows (on a distant server with
    many folders, seconds); on a server without it, one STATUS per folder. Same total."""
    from test_conflicts import connected_sync

    server = request.getfixturevalue(server_fixture)
    user, password = server.new_user()
    server.append(user, [samples.plain(f"inbox {i}", user) for i in range(3)])
    server.append(user, [samples.plain(f"archive {i}", user) for i in range(2)], "Archive")
    account = offline_engine.add_imap_account(server, user, password)
    asked: list[str] = []
    totals: list[int] = []
    with connected_sync(offline_engine, account) as (_, sync, client):
        real_status = client.folder_status

        def status_spy(folder: str, what: Any = None) -> Any:
            asked.append(folder)
            return real_status(folder, what)

        client.folder_status = status_spy  # type: ignore[method-assign]
        sync.listeners.append(lambda progress: totals.append(progress.messages_total))
        assert sync.full_pass(client).added == 5
    assert set(totals) == {5}
    synced = {folder.remote_name for folder in sync.folders}
    assert {"INBOX", "Archive"} <= synced
    if lists_status:
        assert asked == []
    else:
        assert sorted(asked) == sorted(synced)


def test_a_full_pass_lists_the_folders_with_their_roles_and_counts_in_one_command(
    offline_engine,
):
    """A full pass asks the folder list, the SPECIAL-USE flags the roles are read from and
    every folder's counts in one LIST (RFC 5819 with RFC 6154's return option) where the
    server has LIST-STATUS and SPECIAL-USE: it used to send a LIST and then a LIST-STATUS,
    two round trips before the inbox's first mail (Dovecot leaves the SPECIAL-USE flags out
    of a LIST that asks for STATUS alone). Roles from flags on names that tell nothing."""
    from test_conflicts import connected_sync
    from test_qresync import LoggingDovecot

    flags = {"Posted": "\\Sent", "Gone": "\\Trash", "Papers": "\\Archive"}
    server = LoggingDovecot(special_folders=flags).start()
    try:
        user, password = server.new_user()
        server.append(user, [samples.plain(f"inbox {i}", user) for i in range(2)])
        server.append(user, [samples.plain("posted", user)], "Posted")
        account = offline_engine.add_imap_account(server, user, password)
        totals: list[int] = []
        with connected_sync(offline_engine, account) as (_, sync, client):
            mark = server.log_size()
            wire = wire_events(client)
            sync.listeners.append(lambda progress: totals.append(progress.messages_total))
            assert sync.full_pass(client).added == 3
            commands = server.commands(user, mark)
    finally:
        server.stop()
    # Each folder with mail is opened with its UIDs' sizes asked right behind the EXAMINE,
    # before its reply is in: one round trip for both.
    opened = [i for i, event in enumerate(wire) if event == "send EXAMINE"]
    assert len(opened) == 2, wire  # the inbox and Posted (the others show no mail)
    assert all(wire[i + 1] == "send UID" for i in opened), wire
    roles = {folder.remote_name: folder.role for folder in sync.folders}
    assert roles == {"INBOX": "inbox", "Posted": "sent", "Gone": "trash", "Papers": "archive"}
    assert set(totals) == {3}
    lists = [c for c in commands if c.startswith("LIST")]
    assert lists == [
        'LIST "" "*" RETURN (SPECIAL-USE STATUS (MESSAGES UIDNEXT UIDVALIDITY HIGHESTMODSEQ))'
    ], commands
    assert not [c for c in commands if c.startswith("STATUS")], commands


def _uid_commands(client: Any) -> list[list[str]]:
    """The words of every UID command the connection sends from now on (`UID FETCH 1:*
    (UID RFC822.SIZE)` as `["FETCH", "1:*", "(UID RFC822.SIZE)"]`), in order."""
    sent: list[list[str]] = []
    real_command = client._imap._command

    def command_spy(name: str, *args: Any) -> Any:
        if name == "UID":
            sent.append([a.decode() if isinstance(a, bytes) else str(a) for a in args])
        return real_command(name, *args)

    client._imap._command = command_spy
    return sent


def test_a_folders_sizes_and_flags_take_one_command_each_however_many_messages(
    oldest_dovecot, offline_engine, monkeypatch
):
    """A first sync asks for a folder's UIDs and their sizes (to cut its batches) in one
    command (`UID FETCH 1:* (UID RFC822.SIZE)`, no SEARCH), and a full pass of a server
    without CONDSTORE asks for the flags of the UIDs it holds with them written as sequence
    sets (`1:200`): one command per folder, a round trip each, where UIDs listed one by one
    took a command per `UID_CHUNK` of them (set to 10 here, so that would take 20)."""
    from test_conflicts import connected_sync

    from nylas_engine.sync import messages

    dovecot = oldest_dovecot
    monkeypatch.setattr(messages, "UID_CHUNK", 10)
    user, password = dovecot.new_user()
    uids = dovecot.append(user, [samples.plain(f"bulk {i}", user) for i in range(200)])
    dovecot.append(user, [samples.plain("archived", user)], "Archive")
    account = offline_engine.add_imap_account(dovecot, user, password)
    with connected_sync(offline_engine, account) as (_, sync, client):
        real_command = client._imap._command
        sent = _uid_commands(client)
        assert sync.full_pass(client).added == 201
        asked = [f"{w[0]} {w[1]}" for w in sent if w[0] == "SEARCH" or "RFC822.SIZE" in " ".join(w)]
        assert asked == ["FETCH 1:*", "FETCH 1:*"]  # the inbox, the Archive

        flag_checks: list[Any] = []

        def flags_spy(name: str, *args: Any) -> Any:
            if name == "UID" and args[0] == "FETCH" and "FLAGS" in args[2]:
                flag_checks.append(args[1])
            return real_command(name, *args)

        client._imap._command = flags_spy
        dovecot_flagged = sorted(uids)[5]
        with dovecot.client(user, password) as imap:
            imap.select_folder("INBOX")
            imap.add_flags([dovecot_flagged], [b"\\Flagged"])
        sync.full_pass(client)
    assert f"{min(uids)}:{max(uids)}" in flag_checks
    assert len(flag_checks) == 2  # the inbox and the Archive
    with offline_engine.client(account["id"]) as api:
        starred = api.get("/messages", params={"starred": "true"}).json()
    assert [m["subject"] for m in starred] == ["bulk 5"]


def test_a_huge_folders_sizes_come_in_uid_ranges_of_bounded_size(
    oldest_dovecot, offline_engine, monkeypatch
):
    """A first look at a folder of more messages than SIZES_PER_COMMAND (50,000; 50 here)
    asks their UIDs and sizes by UID ranges of about that many messages, not all in one
    reply held at once; the last range ends with `*`, and every message arrives."""
    from test_conflicts import connected_sync

    from nylas_engine.sync import folder_reads

    dovecot = oldest_dovecot
    monkeypatch.setattr(folder_reads, "SIZES_PER_COMMAND", 50)
    user, password = dovecot.new_user()
    uids = dovecot.append(user, [samples.plain(f"bulk {i}", user) for i in range(200)])
    with dovecot.client(user, password) as imap:  # a folder's UIDs have gaps
        imap.select_folder("INBOX")
        imap.delete_messages(sorted(uids)[:100:2])
        imap.expunge()
    account = offline_engine.add_imap_account(dovecot, user, password)
    with connected_sync(offline_engine, account) as (_, sync, client):
        sent = _uid_commands(client)
        assert sync.full_pass(client).added == 150
    asked = [words[1] for words in sent if "RFC822.SIZE" in " ".join(words)]
    assert sorted(uids) == list(range(1, 201))
    # 150 messages under UIDNEXT 201: ranges of 201 * 50 // 150 = 67 UIDs.
    assert asked == ["1:67", "68:134", "135:*"], asked
    with offline_engine.client(account["id"]) as api:
        synced = api.get("/messages", params={"limit": 1000, "view": "count"}).json()
    assert synced["count"] == 150


def test_sequence_sets_cover_exactly_the_uids_within_the_line_limit():
    from nylas_engine.sync.imap import UidSet, sequence_sets

    assert sequence_sets([9, 3, 4, 5, 1, 10, 4]) == ["1,3:5,9:10"]
    assert sequence_sets([]) == []
    assert sequence_sets(range(1, 100_001)) == ["1:100000"]
    scattered = list(range(1, 20_000, 2))  # no two in a row: the longest text there is
    sets = sequence_sets(scattered, limit=1000)
    assert len(sets) > 1 and all(len(s) <= 1000 for s in sets)
    covered = UidSet.parse(sets)
    assert all(uid in covered for uid in scattered)
    assert not any(uid + 1 in covered for uid in scattered)


@pytest.mark.parametrize("server_fixture", ["dovecot", "oldest_dovecot"])
def test_a_full_pass_opens_only_the_folders_with_something_to_do(
    request, offline_engine, server_fixture
):
    """A full pass opens (EXAMINE, then SEARCH or FETCH: round trips each) only the folders
    its STATUS of every folder does not show to be empty on both sides or, with CONDSTORE,
    unchanged since they were last synced. Without CONDSTORE a folder with mail is opened on
    every pass (its flags may have changed unseen). Mail that comes later to a folder
    skipped while empty is synced."""
    from test_conflicts import connected_sync

    server = request.getfixturevalue(server_fixture)
    condstore = server_fixture == "dovecot"
    user, password = server.new_user()
    server.append(user, [samples.plain(f"inbox {i}", user) for i in range(2)])
    server.append(user, [samples.plain("archived", user)], "Archive")
    account = offline_engine.add_imap_account(server, user, password)
    opened: list[str] = []
    with connected_sync(offline_engine, account) as (_, sync, client):
        real_command = client._imap._command

        def command_spy(name: str, *args: Any) -> Any:
            if name in ("EXAMINE", "SELECT"):
                opened.append(args[0].decode().strip('"'))
            return real_command(name, *args)

        client._imap._command = command_spy
        assert sync.full_pass(client).added == 3
        empty = {f.remote_name for f in sync.folders} - {"INBOX", "Archive"}
        assert empty and sorted(opened) == ["Archive", "INBOX"]

        # With CONDSTORE only the folder the connection still has open is looked at again
        # (its STATUS may be stale; RFC 3501 advises against asking it of that folder).
        client.select_folder("INBOX", readonly=True)  # as the idle loop leaves it
        open_now = client.selected_folder
        assert open_now == "INBOX"
        opened.clear()
        sync.full_pass(client)
        assert sorted(opened) == ([open_now] if condstore else ["Archive", "INBOX"])

        with server.client(user, password) as imap:
            imap.select_folder("Archive")
            imap.add_flags(imap.search("ALL"), [b"\\Flagged"])
        junk = next(name for name in sorted(empty) if name != "Drafts")
        server.append(user, [samples.plain("late", user)], junk)
        opened.clear()
        assert sync.full_pass(client).added == 1
        assert sorted(opened) == sorted(["Archive", "INBOX", junk])
    with offline_engine.client(account["id"]) as api:
        subjects = {m["subject"]: m for m in api.get("/messages").json()}
    assert set(subjects) == {"inbox 0", "inbox 1", "archived", "late"}
    assert subjects["archived"]["starred"] is True


@pytest.fixture(scope="module")
def logging_dovecot() -> Iterator[Dovecot]:
    from test_qresync import LoggingDovecot

    server = LoggingDovecot().start()
    yield server
    server.stop()


def _synced_account(server: Dovecot, engine: SyncEngine) -> tuple[str, dict[str, Any]]:
    """A new user of `server` with one message in the inbox, added to `engine` and synced
    once: (the user, the account)."""
    user, password = server.new_user()
    server.append(user, [samples.plain("Already there", user)])
    account = engine.add_imap_account(server, user, password)
    with engine.client(account["id"]) as api:
        eventually(
            lambda: any(m["subject"] == "Already there" for m in api.get("/messages").json()),
            "the first sync",
        )
    return user, account


def test_new_mail_heard_in_idle_is_synced_without_opening_the_inbox_again(
    logging_dovecot, slow_poll_engine
):
    """New mail the server reports while the engine waits in IDLE on the inbox is synced at
    once (the look at every folder's STATUS comes after), and the engine goes back to IDLE
    on the inbox it still has open: the sync's own EXAMINE is the only one. It used to look
    at every folder first and open the inbox twice more per new message (after the sync,
    and when its own commit looked like an API change): on a server 80 ms away each is a
    round trip before the mail shows."""
    server = logging_dovecot
    user, account = _synced_account(server, slow_poll_engine)
    with slow_poll_engine.client(account["id"]) as api:

        def subjects() -> set[str]:
            return {m["subject"] for m in api.get("/messages", params={"in": "inbox"}).json()}

        for n in range(3):
            time.sleep(1.0)  # back in IDLE
            mark = server.log_size()
            server.deliver(user, samples.plain(f"New {n}", user, minutes=n + 1))
            eventually(lambda n=n: f"New {n}" in subjects(), f"new mail {n}")
            time.sleep(1.0)  # the look after the sync, and IDLE again
            commands = server.commands(user, mark)
            examined = [c for c in commands if c.startswith("EXAMINE")]
            assert examined == ['EXAMINE "INBOX"'], commands
            # Heard in IDLE on the inbox: the inbox is synced first, then every folder looked
            # at. (Under load the look after the previous message may end after the mark.)
            if commands and commands[0].startswith("LIST ") and "IDLE" in commands:
                commands = commands[commands.index("IDLE") :]
            assert commands[:2] == ["IDLE", 'EXAMINE "INBOX"'], commands
            # The changes since the last sync and the new message's size in one command
            # (QRESYNC), then the message itself: no command of their own for the sizes.
            assert commands[2].startswith("UID FETCH 1:* (FLAGS RFC822.SIZE) (CHANGEDSINCE "), (
                commands
            )
            assert "BODY.PEEK[]" in commands[3], commands


def test_a_folder_synced_on_the_servers_word_does_not_wake_the_engine_again(
    logging_dovecot, slow_poll_engine
):
    """Mail filed in another folder, reported in IDLE (NOTIFY): the engine leaves IDLE, syncs
    that folder and goes back to IDLE, where it stays. Its own commit used to look like an
    API change to the write-back's look in IDLE a second later, which left IDLE again for
    nothing (a DONE, a look at every folder, a new IDLE: round trips on a distant server)."""
    server = logging_dovecot
    user, account = _synced_account(server, slow_poll_engine)
    with slow_poll_engine.client(account["id"]) as api:

        def subjects() -> set[str]:
            return {m["subject"] for m in api.get("/messages").json()}

        time.sleep(2.0)  # in IDLE
        mark = server.log_size()
        server.append(user, [samples.plain("Filed", user)], "Archive")
        eventually(lambda: "Filed" in subjects(), "mail filed in the Archive")
        time.sleep(3.0)  # three of the write-back's looks in IDLE
    commands = server.commands(user, mark)
    assert 'EXAMINE "Archive"' in commands
    assert commands.count("IDLE") == 1, commands  # the IDLE the server's word ended
