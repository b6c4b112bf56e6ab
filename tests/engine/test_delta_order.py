"""A delta cursor never skips a change that commits late (delta/log.py).

Delta rows are numbered when they are written and read in number order, so a transaction
that took number 1 and commits after another that took number 2 would be invisible to a
reader whose cursor already passed 2. SQLite lets one writer at a time anyway; on PostgreSQL
(`NYLAS_TEST_DB=postgresql`) the log takes a per-account lock until commit. Either way the
second writer waits for the first, which this test checks the way a client would notice it.
"""

from __future__ import annotations

import threading

from sqlalchemy import select

from nylas_engine.store.models import Account, Contact


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
