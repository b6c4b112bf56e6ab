"""Incremental sync with QRESYNC (RFC 7162): after the first pass, expunges and flag changes
come from one `UID FETCH ... (CHANGEDSINCE m VANISHED)` per folder, never from `SEARCH ALL`.

What the engine asked the server is read from the server's own log: these Dovecots log every
IMAP command they finish, with the session it belongs to.
"""

from __future__ import annotations

import json
import re
import time

import pytest
import samples
from dovecot import Dovecot

# Dovecot 2.3's own list (as advertised after login), without QRESYNC: a CONDSTORE-only server.
CONDSTORE_ONLY = (
    "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT SORT=DISPLAY THREAD=REFERENCES "
    "THREAD=REFS THREAD=ORDEREDSUBJECT MULTIAPPEND URL-PARTIAL CATENATE UNSELECT CHILDREN "
    "NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 CONDSTORE ESEARCH ESORT SEARCHRES WITHIN "
    "CONTEXT=SEARCH LIST-STATUS BINARY MOVE LITERAL+ SPECIAL-USE"
)
# (with RFC822.SIZE, to the last UID, when it goes out with the EXAMINE: new mail's sizes)
VANISHED_FETCH = re.compile(
    r"^UID FETCH 1:(\d+|\*) \(FLAGS( RFC822\.SIZE)?\) \(CHANGEDSINCE \d+ VANISHED\)$"
)
_LINE = re.compile(r"imap\((?P<user>[^)]+)\)<\d+><(?P<session>[^>]+)>: Debug: Command finished: ")


class LoggingDovecot(Dovecot):
    """A Dovecot that logs every IMAP command it finishes."""

    def _config(self) -> str:
        return super()._config() + "log_debug = event=imap_command_finished\n"

    def log_size(self) -> int:
        path = self.dir / "dovecot.log"
        return path.stat().st_size if path.exists() else 0

    def commands(self, user: str, since: int) -> list[str]:
        """Every command of `user`'s sessions logged after offset `since`, in order."""
        with (self.dir / "dovecot.log").open("rb") as log:
            log.seek(since)
            text = log.read().decode(errors="replace")
        return [
            line[found.end() :].strip()
            for line in text.splitlines()
            if (found := _LINE.search(line)) and found["user"] == user
        ]

    def engine_commands(self, user: str, since: int) -> list[str]:
        """The commands of the engine's connection (the session that sent ENABLE) logged
        after offset `since`, once its LOGOUT is in the log."""
        deadline = time.monotonic() + 10
        while True:
            with (self.dir / "dovecot.log").open("rb") as log:
                log.seek(since)
                text = log.read().decode(errors="replace")
            by_session: dict[str, list[str]] = {}
            for line in text.splitlines():
                found = _LINE.search(line)
                if found and found["user"] == user:
                    command = line[found.end() :].strip()
                    by_session.setdefault(found["session"], []).append(command)
            engine = [c for c in by_session.values() if any(x.startswith("ENABLE") for x in c)]
            if len(engine) == 1 and engine[0][-1] == "LOGOUT":
                return engine[0]
            if time.monotonic() > deadline:
                raise AssertionError(f"no single engine session in the log: {by_session}")
            time.sleep(0.1)


@pytest.fixture(scope="module")
def qresync_dovecot():
    server = LoggingDovecot().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def condstore_dovecot():
    server = LoggingDovecot(capabilities=CONDSTORE_ONLY).start()
    yield server
    server.stop()


def _sync(engine, server: LoggingDovecot, user: str, account_id: str) -> tuple[dict, list[str]]:
    mark = server.log_size()
    result = json.loads(engine.cli("sync", account_id, "--once", "--json"))
    return result, server.engine_commands(user, mark)


def _flag_and_expunge(server: Dovecot, user: str, password: str) -> None:
    """Another client reads and stars Note 0 and deletes Notes 1 and 3."""
    with server.client(user, password) as other:
        other.select_folder("INBOX")
        uid = {n: other.search(["SUBJECT", f"Note {n}"])[0] for n in range(4)}
        other.add_flags([uid[0]], [b"\\Seen", b"\\Flagged"])
        other.delete_messages([uid[1], uid[3]])
        other.expunge()


def _check_api(engine, account_id: str) -> None:
    with engine.client(account_id) as api:
        by_subject = {m["subject"]: m for m in api.get("/messages").json()}
    assert set(by_subject) == {"Note 0", "Note 2"}
    assert (by_subject["Note 0"]["unread"], by_subject["Note 0"]["starred"]) == (False, True)
    assert (by_subject["Note 2"]["unread"], by_subject["Note 2"]["starred"]) == (True, False)


def test_expunges_and_flags_from_another_client_arrive_through_qresync(
    qresync_dovecot, offline_engine
):
    server = qresync_dovecot
    user, password = server.new_user()
    server.append(user, [samples.plain(f"Note {n}", user, minutes=n) for n in range(4)])
    account = offline_engine.add_imap_account(server, user, password)
    first, commands = _sync(offline_engine, server, user, account["id"])
    assert first["added"] == 4
    assert "ENABLE QRESYNC CONDSTORE" in commands
    # The first pass lists every folder's UIDs, with their sizes, in one command each.
    assert "UID FETCH 1:* (UID RFC822.SIZE)" in commands
    assert "UID SEARCH ALL" not in commands

    _flag_and_expunge(server, user, password)
    second, commands = _sync(offline_engine, server, user, account["id"])
    assert (second["added"], second["updated"], second["removed"]) == (0, 1, 2)
    _check_api(offline_engine, account["id"])
    # One FETCH with VANISHED (for the inbox, the only folder that changed) and no UID lists.
    assert len([c for c in commands if VANISHED_FETCH.match(c)]) == 1
    assert not [c for c in commands if "SEARCH" in c and "ALL" in c]

    # Nothing changed: nothing fetched, nothing searched.
    third, commands = _sync(offline_engine, server, user, account["id"])
    assert (third["added"], third["updated"], third["removed"]) == (0, 0, 0)
    assert not [c for c in commands if "FETCH" in c or "SEARCH" in c]


def test_new_mail_and_changes_in_one_pass(qresync_dovecot, offline_engine):
    server = qresync_dovecot
    user, password = server.new_user()
    server.append(user, [samples.plain(f"Note {n}", user, minutes=n) for n in range(4)])
    account = offline_engine.add_imap_account(server, user, password)
    _sync(offline_engine, server, user, account["id"])

    _flag_and_expunge(server, user, password)
    server.deliver(user, samples.plain("Note 4", user, minutes=4))
    result, commands = _sync(offline_engine, server, user, account["id"])
    assert (result["added"], result["updated"], result["removed"]) == (1, 1, 2)
    # The new mail's UID and size come with the changes, in the one command that asks
    # them, no SEARCH and no command for the sizes: round trips less between new mail on
    # the server and the API.
    assert not [c for c in commands if "SEARCH" in c]
    assert "UID FETCH 1:* (FLAGS RFC822.SIZE) (CHANGEDSINCE 5 VANISHED)" in commands
    assert not [c for c in commands if "(UID RFC822.SIZE)" in c], commands
    with offline_engine.client(account["id"]) as api:
        subjects = {m["subject"] for m in api.get("/messages").json()}
    assert subjects == {"Note 0", "Note 2", "Note 4"}


def test_uidvalidity_change_still_resyncs_with_qresync(qresync_dovecot, offline_engine):
    server = qresync_dovecot
    user, password = server.new_user()
    projects = [samples.plain(f"Project {n}", user, minutes=n) for n in range(3)]
    with server.client(user, password) as imap:
        imap.create_folder("Projects")
    server.append(user, projects, folder="Projects")
    account = offline_engine.add_imap_account(server, user, password)
    _sync(offline_engine, server, user, account["id"])
    with offline_engine.client(account["id"]) as api:
        before = {m["subject"]: m["id"] for m in api.get("/messages").json()}
    assert len(before) == 3

    with server.client(user, password) as imap:
        old_validity = imap.select_folder("Projects")[b"UIDVALIDITY"]
        imap.close_folder()
        imap.delete_folder("Projects")
        imap.create_folder("Projects")
        assert imap.select_folder("Projects")[b"UIDVALIDITY"] != old_validity
    server.append(user, projects[:2], folder="Projects")

    result, commands = _sync(offline_engine, server, user, account["id"])
    assert result["added"] == 2
    # The old UIDs mean nothing: the folder is listed afresh, not asked what vanished.
    assert "UID FETCH 1:* (UID RFC822.SIZE)" in commands  # its UIDs listed anew
    assert not [c for c in commands if VANISHED_FETCH.match(c)]
    with offline_engine.client(account["id"]) as api:
        after = {m["subject"]: m["id"] for m in api.get("/messages").json()}
    assert after == {s: before[s] for s in ("Project 0", "Project 1")}  # same ids


def test_condstore_without_qresync_compares_uid_lists(condstore_dovecot, offline_engine):
    server = condstore_dovecot
    user, password = server.new_user()
    with server.client(user, password) as imap:
        caps = set(imap.capabilities())
    assert b"CONDSTORE" in caps and b"QRESYNC" not in caps
    server.append(user, [samples.plain(f"Note {n}", user, minutes=n) for n in range(4)])
    account = offline_engine.add_imap_account(server, user, password)
    _sync(offline_engine, server, user, account["id"])

    _flag_and_expunge(server, user, password)
    second, commands = _sync(offline_engine, server, user, account["id"])
    assert (second["added"], second["updated"], second["removed"]) == (0, 1, 2)
    _check_api(offline_engine, account["id"])
    assert "ENABLE CONDSTORE" in commands
    assert not [c for c in commands if "QRESYNC" in c or "VANISHED" in c]
    assert "UID SEARCH ALL" in commands  # the count dropped: the UID lists tell which went
    assert any(re.match(r"^UID FETCH [\d,:]+ \(FLAGS\) \(CHANGEDSINCE \d+\)$", c) for c in commands)


@pytest.mark.parametrize("server_fixture", ["qresync_dovecot", "condstore_dovecot"])
def test_mail_that_came_and_went_between_two_passes_adds_nothing(
    request, server_fixture, offline_engine
):
    """UIDNEXT moved but the new message is gone again. Without QRESYNC the new mail is
    asked as `UID FETCH n:*`, which past the last UID names the last message there is (an
    old one), not taken for new mail; with QRESYNC the changes since the last pass name
    nothing new."""
    server = request.getfixturevalue(server_fixture)
    user, password = server.new_user()
    server.append(user, [samples.plain(f"Note {n}", user, minutes=n) for n in range(2)])
    account = offline_engine.add_imap_account(server, user, password)
    _sync(offline_engine, server, user, account["id"])
    (uid,) = server.append(user, [samples.plain("Fleeting", user, minutes=5)])
    with server.client(user, password) as other:
        other.select_folder("INBOX")
        other.delete_messages([uid])
        other.expunge()
    result, commands = _sync(offline_engine, server, user, account["id"])
    assert (result["added"], result["removed"]) == (0, 0)
    if server_fixture == "qresync_dovecot":
        assert any(
            c.startswith("UID FETCH 1:* (FLAGS RFC822.SIZE) (CHANGEDSINCE") for c in commands
        )
    else:
        assert f"UID FETCH {uid}:* (UID RFC822.SIZE)" in commands
    with offline_engine.client(account["id"]) as api:
        subjects = sorted(m["subject"] for m in api.get("/messages").json())
    assert subjects == ["Note 0", "Note 1"]
