"""A message page read while mail arrives holds the messages it read, each with its own
folders and labels.

On PostgreSQL every statement of a read sees what was committed before that statement
started, so a page whose relations were asked for by running the page again could meet a
message it never read (a 500 seen in CI while a worker synced). Here the new message is
committed between the page's statements, which is the moment a busy sync can hit.
"""

from __future__ import annotations

from typing import Any

from mailfactory import Mailbox
from sqlalchemy import event, select

from nylas_engine.store import message_rows, messages
from nylas_engine.store.messages import MailFilters
from nylas_engine.store.models import Account


def test_a_page_read_while_a_message_arrives_keeps_what_it_read(
    engine: Any, account: dict[str, Any]
) -> None:
    box = Mailbox(engine, account)
    older = [box.add(f"Older {n}", labels=["inbox", "Work"]) for n in range(3)]
    arrived: list[dict[str, Any]] = []

    with engine.db.session() as session:
        owner = session.get(Account, session.scalar(_account_pk(account["id"])))
        assert owner is not None
        stmt = messages.list_messages(owner, MailFilters())
        connection = session.connection()

        def between_statements(*_: Any) -> None:
            if not arrived:  # once: right after the page itself was read
                arrived.append(box.add("Newest", labels=["inbox", "Work"]))

        event.listen(connection, "after_cursor_execute", between_statements)
        try:
            page = message_rows.page_rows(session, stmt, limit=10, offset=0)
        finally:
            event.remove(connection, "after_cursor_execute", between_statements)

    assert arrived, "the new message was added while the page was read"
    assert [m.public_id for m in page] == [m["id"] for m in reversed(older)]
    for message in page:
        assert sorted(c.display_name for c in message.categories) == ["Inbox", "Work"]
    # The next read sees the new message too, with its own categories.
    listed = engine.client(account["id"]).get("/messages").json()
    assert [m["id"] for m in listed][0] == arrived[0]["id"]
    assert listed[0]["folder"]["display_name"] == "Inbox"


def _account_pk(public_id: str) -> Any:
    return select(Account.id).where(Account.public_id == public_id)
