"""Interrupted and invalidated syncs: nothing lost, nothing stored twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import samples

from nylas_engine.store.models import Account, ImapUid, Message


def _stored(engine, account_id: str) -> int:
    with engine.db.session() as session:
        account = session.query(Account).filter_by(public_id=account_id).one()
        return session.query(ImapUid).filter_by(account_id=account.id).count()


def _message_ids(engine, account_id: str) -> list[str]:
    with engine.db.session() as session:
        account = session.query(Account).filter_by(public_id=account_id).one()
        rows = session.query(Message.message_id_header).filter_by(
            account_id=account.id, deleted_at=None
        )
        return [r[0] for r in rows]


def _processes_with(marker: str) -> list[int]:
    """Live processes whose environment holds `marker`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker.encode() in environ and state != "Z":
            found.append(int(entry.name))
    return found


def test_sigkill_mid_sync_then_resume(dovecot, mailbox, offline_engine):
    user, password = mailbox
    total = 300
    dovecot.append(user, [samples.plain(f"Message {n}", user, minutes=n) for n in range(total)])
    account = offline_engine.add_imap_account(dovecot, user, password)

    cmd = [
        sys.executable, "-m", "nylas_engine", "--data-dir", str(offline_engine.data_dir),
        "sync", account["id"], "--once", "--json",
    ]  # fmt: skip
    marker = f"resume-{uuid.uuid4().hex}"  # in the environment of the engine and its workers
    env = {**os.environ, "NYLAS_ENGINE_SYNC_BATCH": "5", "NYLAS_TEST_MARKER": marker}
    process = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while _stored(offline_engine, account["id"]) < 20 and time.monotonic() < deadline:
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(30)
    interrupted_at = _stored(offline_engine, account["id"])
    assert 20 <= interrupted_at < total  # killed part way through
    # The processes that parsed for it don't outlive it.
    deadline = time.monotonic() + 15
    while _processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _processes_with(marker) == []

    out = offline_engine.cli("sync", account["id"], "--once", "--json")
    assert json.loads(out)["added"] == total - interrupted_at
    ids = _message_ids(offline_engine, account["id"])
    assert len(ids) == len(set(ids)) == total
    with offline_engine.client(account["id"]) as api:
        assert api.get("/messages", params={"view": "count"}).json()["count"] == total


def test_uidvalidity_change_resyncs_the_folder_without_duplicates(dovecot, mailbox, offline_engine):
    user, password = mailbox
    projects = [samples.plain(f"Project {n}", user, minutes=n) for n in range(3)]
    with dovecot.client(user, password) as imap:
        imap.create_folder("Projects")
    dovecot.append(user, projects, folder="Projects")
    account = offline_engine.add_imap_account(dovecot, user, password)
    offline_engine.cli("sync", account["id"], "--once", "--json")
    with offline_engine.client(account["id"]) as api:
        before = {m["subject"]: m["id"] for m in api.get("/messages").json()}
    assert len(before) == 3

    # The folder is recreated (as a server restore would): same messages, new UIDVALIDITY.
    with dovecot.client(user, password) as imap:
        old_validity = imap.select_folder("Projects")[b"UIDVALIDITY"]
        imap.close_folder()
        imap.delete_folder("Projects")
        imap.create_folder("Projects")
        assert imap.select_folder("Projects")[b"UIDVALIDITY"] != old_validity
    dovecot.append(user, projects[:2], folder="Projects")

    result = json.loads(offline_engine.cli("sync", account["id"], "--once", "--json"))
    assert result["added"] == 2
    with offline_engine.client(account["id"]) as api:
        after = {m["subject"]: m["id"] for m in api.get("/messages").json()}
        assert after == {s: before[s] for s in ("Project 0", "Project 1")}  # same ids
        folder = api.get(f"/messages/{after['Project 0']}").json()["folder"]
        assert folder["display_name"] == "Projects"


def test_a_finished_sync_prints_all_it_says_and_leaves_no_process_behind(
    dovecot, mailbox, offline_engine
):
    """`nylas-engine` ends without the interpreter's teardown (cli.run): what it printed
    must still all arrive, and the worker processes it started must still go."""
    user, password = mailbox
    dovecot.append(user, [samples.plain(f"Note {n}", user, minutes=n) for n in range(30)])
    account = offline_engine.add_imap_account(dovecot, user, password)
    marker = f"finish-{uuid.uuid4().hex}"
    env = {**os.environ, "NYLAS_ENGINE_SYNC_BATCH": "5", "NYLAS_TEST_MARKER": marker}
    done = subprocess.run(
        [
            *(sys.executable, "-m", "nylas_engine", "--data-dir", str(offline_engine.data_dir)),
            *("sync", account["id"], "--once", "--json"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1])["added"] == 30
    deadline = time.monotonic() + 15
    while _processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _processes_with(marker) == []
