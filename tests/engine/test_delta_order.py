"""A delta cursor never skips a change that commits late (delta/log.py).

Delta rows are numbered when they are written and read in number order, so a transaction
that took number 1 and commits after another that took number 2 would be invisible to a
reader whose cursor already passed 2. SQLite lets one writer at a time anyway; on PostgreSQL
(`NYLAS_TEST_DB=postgresql`) the log takes a per-account lock until commit. Either way the
second writer waits for the first, which this test checks the way a client would notice it.
"""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from nylas_engine.store.blobs import BlobStore
from nylas_engine.store.mail import NewMessage, ingest_messages
from nylas_engine.store.models import Account, Contact, Message, Transaction


def _add_contact(engine, account_id: str, name: str):
    session = engine.db.sessions()
    owner = session.scalar(select(Account).where(Account.public_id == account_id))
    contact = Contact(account_id=owner.id, given_name=name)
    session.add(contact)
    session.flush()  # its delta row is written (and numbered) now
    return session, contact


def test_a_late_commit_is_not_skipped_by_a_cursor(engine, account, api):
    early, _ = _add_contact(engine, account["id"], "Slow")  # open, not committed
    quick_done = threading.Event()

    def quick_writer() -> None:
        session, _ = _add_contact(engine, account["id"], "Quick")
        session.commit()
        session.close()
        quick_done.set()

    writer = threading.Thread(target=quick_writer)
    writer.start()
    try:
        quick_done.wait(2)  # with the lock it waits for `early`; without, it commits now
        cursor = api.post("/delta/latest_cursor").json()["cursor"]
    finally:
        early.commit()
        early.close()
        writer.join(30)
    assert not writer.is_alive()

    # A client that took its cursor in between reads on from it: it must get both changes.
    deltas = api.get("/delta", params={"cursor": cursor}).json()["deltas"]
    names = {d["attributes"]["given_name"] for d in deltas if d["object"] == "contact"}
    assert names == {"Slow", "Quick"}, (
        "a change that committed late, under a lower number, was skipped"
    )


def _mail(subject: str) -> bytes:
    return (
        f"From: Ann <ann@example.com>\r\nTo: bob@example.com\r\nSubject: {subject}\r\n"
        f"Message-ID: <{subject}@example.com>\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\nHi\r\n"
    ).encode()


def test_bulk_rows_are_logged_with_their_savepoint(engine, account, tmp_path):
    """The bulk path's rows (a multi-row INSERT no flush sees) go into the log with the
    transaction they belong to: none for a savepoint that rolled back, each once otherwise."""
    blobs = BlobStore(tmp_path)
    with engine.db.session() as session:
        owner = session.scalar(select(Account).where(Account.public_id == account["id"]))
        owner_id = owner.id
        first = session.scalar(select(func.max(Transaction.id))) or 0
        with pytest.raises(RuntimeError), session.begin_nested():
            ingest_messages(session, blobs, owner, [NewMessage(_mail("dropped"))])
            raise RuntimeError("the import of this one failed")
        with session.begin_nested():
            [kept] = ingest_messages(session, blobs, owner, [NewMessage(_mail("kept"))])
        message = session.get(Message, kept)
        expected = {("thread", message.thread.public_id), ("message", message.public_id)}
    with engine.db.session() as session:
        logged = session.execute(
            select(
                Transaction.object_type, Transaction.object_public_id, Transaction.command
            ).where(Transaction.id > first, Transaction.account_id == owner_id)
        ).all()
    assert sorted((t, i) for t, i, _ in logged) == sorted(expected)
    assert {command for *_, command in logged} == {"insert"}
