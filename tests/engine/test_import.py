"""`nylas-engine import ACCOUNT PATH` on mbox files and Maildirs made here, then what the
engine stored: threads, folders, flags, files, search (importer.py, store/mail.py, search/).
"""

from __future__ import annotations

import json
import mailbox
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import TEST_DB
from legacy_sdk import legacy_client
from sqlalchemy import select

from nylas_engine.search import search_messages, search_threads
from nylas_engine.store.models import Account, Message

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


def messages_of(engine: Any, account: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """GET /messages for the account, keyed by "subject|sender"."""
    with engine.client(account["id"]) as api:
        listed = api.get("/messages", params={"limit": 1000}).json()
    return {f"{m['subject']}|{m['from'][0]['email'] if m['from'] else ''}": m for m in listed}


def draft_subjects(engine: Any, account: dict[str, Any]) -> list[str]:
    """Drafts have no HTTP route yet: read them from the store."""
    with engine.db.session() as session:
        owner = session.scalar(select(Account).where(Account.public_id == account["id"]))
        return list(
            session.scalars(
                select(Message.subject).where(
                    Message.account_id == owner.id, Message.is_draft.is_(True)
                )
            )
        )


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

    got = messages_of(engine, account)
    original = got["Lunch on Friday?|bob@example.org"]
    mine = got[f"Re: Lunch on Friday?|{me}"]
    answer = got["Re: Lunch on Friday?|bob@example.org"]
    by_subject = got["AW: Lunch on Friday?|bob@example.org"]
    stranger = got["Lunch on Friday?|eve@else.example"]
    assert original["thread_id"] == mine["thread_id"] == answer["thread_id"]
    assert by_subject["thread_id"] == original["thread_id"]  # subject + same people
    assert stranger["thread_id"] != original["thread_id"]  # same subject, other people
    assert mine["folder"]["name"] == "sent" and not mine["unread"]
    assert original["folder"]["name"] == "inbox" and original["unread"]
    assert not original["starred"]
    assert not answer["unread"] and answer["starred"]  # Status: RO, X-Status: F
    assert got["café|"]["unread"] and "no boundary at all" in got["café|"]["body"]

    invoice = got["Invoice 2024-03|billing@shop.example"]
    (ref,) = invoice["files"]
    assert (ref["filename"], ref["content_type"]) == ("invoice-2024-03.pdf", "application/pdf")
    with engine.client(account["id"]) as api:
        assert api.get(f"/files/{ref['id']}/download").content == PDF
        raw = api.get(f"/messages/{invoice['id']}", headers={"Accept": "message/rfc822"})
        assert b"Your monthly invoice" in raw.content
        lunch = api.get(f"/threads/{original['thread_id']}").json()
        assert api.get("/account").json()["email_address"] == me

    assert lunch["subject"] == "Lunch on Friday?"
    assert lunch["message_ids"] == [
        original["id"], mine["id"], answer["id"], by_subject["id"]
    ]  # fmt: skip
    assert lunch["first_message_timestamp"] == T0
    assert lunch["last_message_timestamp"] == T0 + 2 * DAY
    assert lunch["last_message_sent_timestamp"] == T0 + 3600
    assert lunch["last_message_received_timestamp"] == T0 + 2 * DAY
    assert lunch["unread"] and lunch["starred"]


def test_official_sdk_reads_imported_mail(engine, tmp_path):
    account = engine.new_account()
    run_import(
        engine, account, write_mbox(tmp_path / "a.mbox", conversation(account["email_address"]))
    )
    client = legacy_client(engine.url, account["id"])
    threads = client.threads.all()
    assert sorted(t.subject for t in threads) == [
        "Invoice 2024-03", "Lunch on Friday?", "Lunch on Friday?"
    ]  # fmt: skip
    invoice = client.messages.where(subject="Invoice 2024-03").first()
    assert invoice.files[0]["filename"] == "invoice-2024-03.pdf"
    assert client.files.get(invoice.files[0]["id"]).download() == PDF
    assert [m.subject for m in client.messages.search("noon")] == ["Re: Lunch on Friday?"]


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
    got = {m["subject"]: m for m in messages_of(engine, account).values()}
    assert got["Unread one"]["folder"]["name"] == "inbox" and got["Unread one"]["unread"]
    flagged = got["Read and flagged"]
    assert not flagged["unread"] and flagged["starred"]
    assert got["I wrote this"]["folder"]["name"] == "sent"
    assert got["Old news"]["folder"]["name"] == "archive"
    assert got["Deleted"]["folder"]["name"] == "trash"
    assert got["Cheap pills"]["folder"]["name"] == "spam" and got["Cheap pills"]["unread"]
    assert got["Alpha kickoff"]["folder"]["display_name"] == "Projects/Alpha"
    assert got["Alpha kickoff"]["folder"]["name"] is None
    assert "Half written" not in got  # a draft, not a message
    assert draft_subjects(engine, account) == ["Half written"]

    with engine.client(account["id"]) as api:
        folders = api.get("/folders").json()
    assert sorted(f["display_name"] for f in folders) == sorted(
        ["Inbox", "Sent", "Drafts", "Trash", "Junk", "Archive", "Projects/Alpha"]
    )  # the standard folders were reused, not duplicated


def test_import_twice_skips_what_is_already_there(engine, tmp_path):
    account = engine.new_account()
    box = write_mbox(tmp_path / "a.mbox", conversation(account["email_address"]))
    first = run_import(engine, account, box)
    again = run_import(engine, account, box)
    assert first["imported"] == 6
    assert again["imported"] == 0 and again["duplicates"] == 6
    assert len(messages_of(engine, account)) == 6


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

    got = {m["subject"]: m["folder"] for m in messages_of(engine, account).values()}
    assert got["Receipt #1"]["display_name"] == "Receipts" and got["Receipt #1"]["name"] is None
    assert got["Hello from me"]["name"] == "sent"
    assert got["Just one"]["name"] == "inbox"


def test_many_messages_commit_in_batches(engine, tmp_path):
    account = engine.new_account()
    me = account["email_address"]
    raws = [
        mime(f"Status report {i}", f"bot{i % 7}@example.org", me, T0 + i * 60, msgid=f"<r{i}@x>")
        for i in range(450)
    ]
    summary = run_import(engine, account, write_mbox(tmp_path / "big.mbox", raws))
    assert summary["imported"] == 450
    with engine.client(account["id"]) as api:
        assert api.get("/messages", params={"view": "count"}).json() == {"count": 450}
        newest = api.get("/messages", params={"limit": 1}).json()
    assert newest[0]["subject"] == "Status report 449"


def test_cli_reports_unknown_account_and_path(engine, tmp_path):
    account = engine.new_account()
    box = write_mbox(tmp_path / "x.mbox", [mime("hi", "a@b.example", "c@d.example", T0)])
    # engine.cli raises RuntimeError with the command's stderr when it exits non-zero
    with pytest.raises(RuntimeError) as no_account:
        engine.import_mail("nobody@nowhere.example", box)
    assert "no account 'nobody@nowhere.example'" in str(no_account.value)

    with pytest.raises(RuntimeError) as no_path:
        engine.import_mail(account["id"], tmp_path / "missing")
    assert "no such file or directory" in str(no_path.value)

    plain = engine.import_mail(account["id"], box)
    assert plain.startswith("Imported 1 messages (0 attachments) into ")


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b"", "is empty"),
        (b"  \n\n", "is empty"),
        (b"# nylas-engine\n\nAn open-source server for the Nylas v2 REST API.\n", "is not mail"),
        (b"Note: buy milk\nTodo: call Ann\n\nFrom: the shop\n", "is not mail"),
        (b"From the desk of Ann\nDear all,\n", "is not mail"),  # a "From " line, not an mbox
    ],
)
def test_import_refuses_what_is_not_mail(engine, tmp_path, content, said):
    account = engine.new_account()
    path = tmp_path / "README.md"
    path.write_bytes(content)
    with pytest.raises(RuntimeError) as refused:
        engine.import_mail(account["id"], path)
    assert f"nylas-engine import: {path} {said}" in str(refused.value)
    assert "Traceback" not in str(refused.value)
    with engine.client(account["id"]) as api:
        assert api.get("/messages", params={"view": "count"}).json() == {"count": 0}


def test_a_message_file_with_only_some_headers_still_imports(engine, tmp_path):
    account = engine.new_account()
    path = tmp_path / "note.eml"
    path.write_bytes(b"Subject: just a subject\r\nX-Tag: a\r\n  folded\r\n\r\nbody\r\n")
    summary = run_import(engine, account, path)
    assert summary["imported"] == 1
    assert [m["subject"] for m in messages_of(engine, account).values()] == ["just a subject"]


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
    with engine.client(mine["id"]) as api:

        def subjects(q: str) -> list[str]:
            response = api.get("/messages/search", params={"q": q})
            assert response.status_code == 200, response.text
            return [m["subject"] for m in response.json()]

        assert subjects("invoice") == ["Invoice 2024-03"]
        assert subjects("invoice-2024-03.pdf") == ["Invoice 2024-03"]  # by file name
        assert subjects("NOON") == ["Re: Lunch on Friday?"]
        by_person = api.get("/messages/search", params={"q": "bob@example.org"}).json()
        assert [m["date"] for m in by_person] == [T0 + 2 * DAY, T0 + 7200, T0 + 3600, T0]
        assert all(m["account_id"] == mine["id"] for m in by_person)
        lunch = api.get("/threads/search", params={"q": "lunch friday"}).json()
        assert [t["subject"] for t in lunch] == ["Lunch on Friday?", "Lunch on Friday?"]
        assert lunch[0]["last_message_timestamp"] >= lunch[1]["last_message_timestamp"]
        paged = api.get("/messages/search", params={"q": "lunch", "limit": 2, "offset": 1})
        assert len(paged.json()) == 2

        for q in ["foo AND (", '"', "NEAR(lunch", "*", "lunch OR", "-", "body:x", "^lunch"]:
            for path in ("/messages/search", "/threads/search"):
                assert api.get(path, params={"q": q}).status_code == 200, (path, q)
        assert subjects("lunch AND (") == []  # "and" is just a word here
        assert len(subjects('"lunch"')) == 5


@pytest.mark.skipif(
    TEST_DB != "sqlite",
    reason="FTS5 is SQLite's: on PostgreSQL search always uses LIKE "
    "(test_search_messages_and_threads covers it there)",
)
def test_like_fallback_finds_what_fts_finds(engine, searchable):
    """Databases without FTS5 search with LIKE; both must agree on the same mail."""
    mine, _ = searchable
    with engine.db.session() as session:
        owner = session.scalar(select(Account).where(Account.public_id == mine["id"]))
        for q in ["invoice", "invoice-2024-03.pdf", "bob@example.org", "NOON", "lunch friday"]:
            fts = [m.id for m in search_messages(session, owner, q, backend="fts")]
            like = [m.id for m in search_messages(session, owner, q, backend="like")]
            assert fts == like and fts, q
            assert [t.id for t in search_threads(session, owner, q, backend="like")] == [
                t.id for t in search_threads(session, owner, q, backend="fts")
            ]
        assert search_messages(session, owner, "foo AND (", backend="like") == []


def test_a_message_the_store_refuses_costs_only_itself(engine, account, tmp_path, monkeypatch):
    """SQLite stores anything a parser makes, so the store's refusal is injected (as a
    PostgreSQL server refusing a NUL byte would do): the batch is retried one message at a
    time, and only the refused one is lost and counted."""
    from nylas_engine import importer
    from nylas_engine.config import Settings
    from nylas_engine.context import EngineContext
    from nylas_engine.store.blobs import BlobStore

    real_ingest = importer.ingest_messages

    def refusing(session, blobs, acct, items):
        if any(item.parsed.subject == "Refused" for item in items):
            raise ValueError("the database refused a value")
        return real_ingest(session, blobs, acct, items)

    monkeypatch.setattr(importer, "ingest_messages", refusing)
    subjects = ["One", "Refused", "Three", "Four", "Five"]
    path = write_mbox(
        tmp_path / "box.mbox",
        [mime(s, "ann@example.org", account["email_address"], 1_700_000_000 + n * 60)
         for n, s in enumerate(subjects)],
    )  # fmt: skip
    settings = Settings(data_dir=engine.data_dir)
    ctx = EngineContext(settings, engine.db, BlobStore(settings.blob_dir))
    with engine.db.session() as session:
        owner = session.scalar(select(Account).where(Account.public_id == account["id"]))
    summary = importer.import_path(ctx, owner, path, batch_size=3)

    assert (summary.imported, summary.failed) == (4, 1)
    assert summary.folders == {"Inbox": 4}
    stored = {m["subject"] for m in messages_of(engine, account).values()}
    assert stored == {"One", "Three", "Four", "Five"}


def test_nul_characters_are_dropped_not_the_message(engine, account, tmp_path):
    """A NUL byte in a header or body means nothing in text (and PostgreSQL refuses it in a
    text column): the message is stored without it, on either database."""
    raw = (
        b"From: Nul Sender <nul@example.org>\r\nTo: me@example.org\r\n"
        b"Subject: zero\x00width\r\nDate: Mon, 4 Mar 2024 10:00:00 +0000\r\n"
        b"Message-ID: <nul-1@example.org>\r\n\r\nbefore\x00after\r\n"
    )
    path = tmp_path / "nul.eml"
    path.write_bytes(raw)
    summary = run_import(engine, account, path)
    assert (summary["imported"], summary["failed"]) == (1, 0)
    with engine.client(account["id"]) as api:
        [message] = api.get("/messages", params={"from": "nul@example.org"}).json()
    assert message["subject"] == "zerowidth"
    assert "beforeafter" in message["body"]
    assert "\x00" not in message["body"] and "\x00" not in message["snippet"]
