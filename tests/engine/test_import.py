"""`nylas-engine import ACCOUNT PATH` on mbox files and Maildirs made here, then what the
engine stored: threads, folders, flags, files, search (importer.py, store/mail.py, search/).
"""

from __future__ import annotations

import json
import mailbox
import subprocess
import sys
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from nylas_engine.search import search_messages, search_threads
from nylas_engine.store.models import Account, Category, Message, Thread

DAY = 86400
T0 = 1_709_000_000  # late February 2024
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def mime(
    subject: str,
    from_: str,
    to: str,
    ts: int,
    *,
    msgid: str | None = None,
    reply_to: str | None = None,
    refs: list[str] | None = None,
    body: str = "Hello",
    pdf: str | None = None,
    headers: dict[str, str] | None = None,
) -> bytes:
    msg = EmailMessage()
    msg["From"] = from_
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(datetime.fromtimestamp(ts, timezone.utc))
    if msgid:
        msg["Message-ID"] = msgid
    if reply_to:
        msg["In-Reply-To"] = reply_to
        msg["References"] = " ".join([*(refs or []), reply_to])
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    if pdf:
        msg.add_attachment(PDF, maintype="application", subtype="pdf", filename=pdf)
    return msg.as_bytes()


def write_mbox(path: Path, messages: list[bytes]) -> Path:
    box = mailbox.mbox(str(path))
    for raw in messages:
        box.add(raw)
    box.flush()
    box.close()
    return path


def run_import(engine: Any, account: dict[str, Any], path: Path) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(engine.cli("import", account["id"], str(path), "--json"))
    return result


def stored(engine: Any, account: dict[str, Any]) -> list[dict[str, Any]]:
    """What the engine holds for the account, one dict per message, oldest first."""
    with engine.db.session() as session:
        owner = session.scalar(select(Account).where(Account.public_id == account["id"]))
        messages = session.scalars(
            select(Message).where(Message.account_id == owner.id).order_by(Message.date)
        ).all()
        return [
            {
                "subject": m.subject,
                "thread": m.thread.public_id if m.thread else None,
                "folders": [c.display_name for c in m.categories],
                "roles": [c.name for c in m.categories],
                "unread": m.unread,
                "starred": m.starred,
                "is_sent": m.is_sent,
                "is_draft": m.is_draft,
                "from": m.from_,
                "files": [
                    (a.file.filename, a.file.content_type, a.file.sha256, a.disposition)
                    for a in m.attachments
                ],
                "raw_sha256": m.raw_sha256,
            }
            for m in messages
        ]


def threads_of(engine: Any, account: dict[str, Any]) -> list[dict[str, Any]]:
    with engine.db.session() as session:
        owner = session.scalar(select(Account).where(Account.public_id == account["id"]))
        rows = session.scalars(
            select(Thread)
            .where(Thread.account_id == owner.id)
            .order_by(Thread.last_message_ts.desc())
        ).all()
        return [
            {
                "id": t.public_id,
                "subject": t.subject,
                "count": len(t.messages),
                "first": t.first_message_ts,
                "last": t.last_message_ts,
                "last_received": t.last_received_ts,
                "last_sent": t.last_sent_ts,
            }
            for t in rows
        ]


def conversation(me: str) -> list[bytes]:
    """A three-message thread (one reply by the account), an unrelated message with a PDF,
    a subject-only reply (no references), and a same-subject message from strangers."""
    return [
        mime("Lunch on Friday?", "Bob <bob@example.org>", me, T0, msgid="<m1@example.org>"),
        mime(
            "Re: Lunch on Friday?",
            f"Me <{me}>",
            "bob@example.org",
            T0 + 3600,
            msgid="<m2@example.com>",
            reply_to="<m1@example.org>",
            body="Sure, noon works",
        ),
        mime(
            "Re: Lunch on Friday?",
            "bob@example.org",
            me,
            T0 + 7200,
            msgid="<m3@example.org>",
            reply_to="<m2@example.com>",
            refs=["<m1@example.org>"],
            headers={"Status": "RO", "X-Status": "F"},
        ),
        mime(
            "Invoice 2024-03",
            "Billing <billing@shop.example>",
            me,
            T0 + DAY,
            msgid="<inv@shop.example>",
            body="Your monthly invoice is attached.",
            pdf="invoice-2024-03.pdf",
        ),
        mime("AW: Lunch on Friday?", "bob@example.org", me, T0 + 2 * DAY, msgid="<m4@x>"),
        mime(
            "Lunch on Friday?", "eve@else.example", "zed@else.example", T0 + 2 * DAY, msgid="<m5@x>"
        ),
    ]


def test_mbox_import_threads_messages_and_keeps_files(engine, tmp_path):
    account = engine.new_account()
    me = account["email_address"]
    broken = (
        b"From: =?bogus?q?x?= <<<>>\r\nSubject: caf\xe9\r\nDate: yesterday-ish\r\n"
        b"Content-Type: multipart/mixed\r\n\r\nno boundary at all \xff\r\n"
    )
    box = write_mbox(tmp_path / "inbox.mbox", [*conversation(me), broken])

    summary = run_import(engine, account, box)

    assert summary["account_id"] == account["id"]
    assert summary["imported"] == 7
    assert summary["failed"] == 0 and summary["duplicates"] == 0
    assert summary["malformed"] == 1
    assert summary["attachments"] == 1
    assert summary["folders"] == {"Inbox": 6, "Sent": 1}

    messages = {m["subject"] + "|" + m["from"][0]["email"] if m["from"] else m["subject"]: m
                for m in stored(engine, account)}  # fmt: skip
    original = messages["Lunch on Friday?|bob@example.org"]
    mine = messages[f"Re: Lunch on Friday?|{me}"]
    answer = messages["Re: Lunch on Friday?|bob@example.org"]
    by_subject = messages["AW: Lunch on Friday?|bob@example.org"]
    stranger = messages["Lunch on Friday?|eve@else.example"]
    assert original["thread"] == mine["thread"] == answer["thread"] == by_subject["thread"]
    assert stranger["thread"] != original["thread"]  # same subject, no shared people
    assert mine["roles"] == ["sent"] and mine["is_sent"] and not mine["unread"]
    assert original["roles"] == ["inbox"] and original["unread"] and not original["starred"]
    assert not answer["unread"] and answer["starred"]  # Status: RO, X-Status: F
    assert messages["café"]["unread"]  # the broken one is stored as well as it parsed

    invoice = messages["Invoice 2024-03|billing@shop.example"]
    ((filename, ctype, sha, disposition),) = invoice["files"]
    assert (filename, ctype, disposition) == (
        "invoice-2024-03.pdf",
        "application/pdf",
        "attachment",
    )
    blob = engine.data_dir / "blobs" / sha[:2] / sha[2:4] / sha
    assert blob.read_bytes() == PDF
    raw = invoice["raw_sha256"]
    assert (
        b"Your monthly invoice"
        in (engine.data_dir / "blobs" / raw[:2] / raw[2:4] / raw).read_bytes()
    )

    lunch = next(t for t in threads_of(engine, account) if t["id"] == original["thread"])
    assert lunch["subject"] == "Lunch on Friday?" and lunch["count"] == 4
    assert (lunch["first"], lunch["last"]) == (T0, T0 + 2 * DAY)
    assert lunch["last_sent"] == T0 + 3600 and lunch["last_received"] == T0 + 2 * DAY

    with engine.client(account["id"]) as api:
        assert api.get("/account").json()["email_address"] == me


def test_maildir_folders_roles_and_flags(engine, tmp_path):
    account = engine.new_account()
    me = account["email_address"]
    root = mailbox.Maildir(str(tmp_path / "Maildir"), create=True)

    def deliver(box: mailbox.Maildir, raw: bytes, flags: str = "", subdir: str = "cur") -> None:
        msg = mailbox.MaildirMessage(raw)
        msg.set_subdir(subdir)
        msg.set_flags(flags)
        box.add(msg)

    deliver(root, mime("Unread one", "a@example.org", me, T0), subdir="new")
    deliver(root, mime("Read and flagged", "a@example.org", me, T0 + 1), "FS")
    deliver(root.add_folder("Sent"), mime("I wrote this", me, "a@example.org", T0 + 2), "S")
    deliver(root.add_folder("Archive"), mime("Old news", "b@example.org", me, T0 + 3), "S")
    deliver(root.add_folder("Trash"), mime("Deleted", "c@example.org", me, T0 + 4), "ST")
    deliver(root.add_folder("Junk"), mime("Cheap pills", "spam@example.biz", me, T0 + 5))
    deliver(root.add_folder("Drafts"), mime("Half written", me, "d@example.org", T0 + 6), "DS")
    deliver(root.add_folder("Projects.Alpha"), mime("Alpha kickoff", "e@example.org", me, T0 + 7))

    summary = run_import(engine, account, tmp_path / "Maildir")

    assert summary["imported"] == 8 and summary["failed"] == 0
    got = {m["subject"]: m for m in stored(engine, account)}
    assert got["Unread one"]["roles"] == ["inbox"] and got["Unread one"]["unread"]
    flagged = got["Read and flagged"]
    assert not flagged["unread"] and flagged["starred"]
    assert got["I wrote this"]["roles"] == ["sent"] and got["I wrote this"]["is_sent"]
    assert got["Old news"]["roles"] == ["archive"]
    assert got["Deleted"]["roles"] == ["trash"]
    assert got["Cheap pills"]["roles"] == ["spam"] and got["Cheap pills"]["unread"]
    assert got["Half written"]["is_draft"] and got["Half written"]["roles"] == ["drafts"]
    assert got["Alpha kickoff"]["folders"] == ["Projects/Alpha"]
    assert got["Alpha kickoff"]["roles"] == [None]

    with engine.db.session() as session:
        owner = session.scalar(select(Account).where(Account.public_id == account["id"]))
        names = session.scalars(
            select(Category.display_name).where(Category.account_id == owner.id)
        ).all()
    assert sorted(names) == sorted(
        ["Inbox", "Sent", "Drafts", "Trash", "Junk", "Archive", "Projects/Alpha"]
    )  # the standard folders were reused, not duplicated


def test_import_twice_skips_what_is_already_there(engine, tmp_path):
    account = engine.new_account()
    box = write_mbox(tmp_path / "a.mbox", conversation(account["email_address"]))
    first = run_import(engine, account, box)
    again = run_import(engine, account, box)
    assert first["imported"] == 6
    assert again["imported"] == 0 and again["duplicates"] == 6
    assert len(stored(engine, account)) == 6


def test_folder_of_mboxes_single_eml_and_account_by_email(engine, tmp_path):
    account = engine.new_account()
    me = account["email_address"]
    folder = tmp_path / "mail"
    folder.mkdir()
    write_mbox(folder / "Receipts.mbox", [mime("Receipt #1", "shop@example.net", me, T0)])
    write_mbox(folder / "Sent", [mime("Hello from me", me, "x@example.net", T0 + 1)])
    eml = tmp_path / "single.eml"
    eml.write_bytes(mime("Just one", "y@example.net", me, T0 + 2))

    summary = json.loads(engine.cli("import", me.upper(), str(folder), "--json"))
    assert summary["folders"] == {"Receipts": 1, "Sent": 1}
    run_import(engine, account, eml)

    got = {m["subject"]: m for m in stored(engine, account)}
    assert got["Receipt #1"]["folders"] == ["Receipts"] and got["Receipt #1"]["roles"] == [None]
    assert got["Hello from me"]["roles"] == ["sent"]
    assert got["Just one"]["roles"] == ["inbox"]


def test_many_messages_commit_in_batches(engine, tmp_path):
    account = engine.new_account()
    me = account["email_address"]
    raws = [
        mime(f"Status report {i}", f"bot{i % 7}@example.org", me, T0 + i * 60, msgid=f"<r{i}@x>")
        for i in range(450)
    ]
    summary = run_import(engine, account, write_mbox(tmp_path / "big.mbox", raws))
    assert summary["imported"] == 450
    assert len(stored(engine, account)) == 450


def test_cli_reports_unknown_account_and_path(engine, tmp_path):
    account = engine.new_account()
    box = write_mbox(tmp_path / "x.mbox", [mime("hi", "a@b.example", "c@d.example", T0)])
    base = [sys.executable, "-m", "nylas_engine", "--data-dir", str(engine.data_dir), "import"]

    no_account = subprocess.run([*base, "nobody@nowhere.example", str(box)], capture_output=True)
    assert no_account.returncode != 0
    assert b"no account 'nobody@nowhere.example'" in no_account.stderr

    no_path = subprocess.run([*base, account["id"], str(tmp_path / "missing")], capture_output=True)
    assert no_path.returncode != 0
    assert b"no such file or directory" in no_path.stderr

    plain = subprocess.run([*base, account["id"], str(box)], capture_output=True, text=True)
    assert plain.returncode == 0
    assert plain.stdout.startswith("Imported 1 messages (0 attachments) into ")


@pytest.fixture(scope="module")
def searchable(engine, tmp_path_factory):
    """Two accounts with the same mail, so results can be checked for leaks."""
    accounts = [engine.new_account(), engine.new_account()]
    for account in accounts:
        box = tmp_path_factory.mktemp("search") / "s.mbox"
        run_import(engine, account, write_mbox(box, conversation(account["email_address"])))
    return accounts


def test_search_messages_and_threads(engine, searchable):
    mine, other = searchable
    with engine.db.session() as session:
        owner = session.scalar(select(Account).where(Account.public_id == mine["id"]))
        for backend in ("fts", "like"):
            hits = search_messages(session, owner, "invoice", backend=backend)
            assert [m.subject for m in hits] == ["Invoice 2024-03"]
            assert all(m.account_id == owner.id for m in hits)
            by_file = search_messages(session, owner, "invoice-2024-03.pdf", backend=backend)
            assert [m.subject for m in by_file] == ["Invoice 2024-03"]
            by_person = search_messages(session, owner, "bob@example.org", backend=backend)
            assert [m.date for m in by_person] == [T0 + 2 * DAY, T0 + 7200, T0 + 3600, T0]
            assert [
                m.subject for m in search_messages(session, owner, "NOON", backend=backend)
            ] == ["Re: Lunch on Friday?"]
        lunch = search_threads(session, owner, "lunch friday")
        assert [t.subject for t in lunch] == ["Lunch on Friday?", "Lunch on Friday?"]
        assert lunch[0].last_message_ts >= lunch[1].last_message_ts
        paged = search_messages(session, owner, "lunch", limit=2, offset=1)
        assert len(paged) == 2


def test_search_never_passes_syntax_to_fts(engine, searchable):
    mine, _ = searchable
    with engine.db.session() as session:
        owner = session.scalar(select(Account).where(Account.public_id == mine["id"]))
        for q in ["foo AND (", '"', "NEAR(lunch", "*", "lunch OR", "-", "body:x", "''", "^lunch"]:
            search_messages(session, owner, q)  # no exception is the point
            search_threads(session, owner, q)
        assert search_messages(session, owner, "lunch AND (") == []  # "and" is a word here
        assert len(search_messages(session, owner, '"lunch"')) == 5
