"""Threading of mail that arrives in any order, one at a time or in batches (as an IMAP sync
stores each FETCH batch, newest first), read back through the API."""

from __future__ import annotations

from typing import Any

import pytest
from mailfactory import BASE_TS, build_mime
from sqlalchemy import select

from nylas_engine.store.blobs import BlobStore
from nylas_engine.store.mail import NewMessage, ingest_messages
from nylas_engine.store.models import Account

ME = "me@example.com"
ANN = "Ann <ann@example.org>"


def _store(engine: Any, account: dict[str, Any], *batches: list[bytes]) -> None:
    """Each batch in one `ingest_messages` call, the batches one after the other."""
    blobs = BlobStore(engine.data_dir / "blobs")
    for batch in batches:
        with engine.db.session() as session:
            acct = session.scalar(select(Account).where(Account.public_id == account["id"]))
            ingest_messages(session, blobs, acct, [NewMessage(raw) for raw in batch])


def _conversation() -> tuple[bytes, bytes, bytes]:
    """A message, a reply with another subject, and a reply to that reply: only their
    headers tie them together."""
    first, first_id = build_mime(
        subject="Budget 2027", from_="Ann <ann@example.org>", to=[ME], date=BASE_TS
    )
    second, second_id = build_mime(
        subject="numbers inside",
        from_=ME,
        to=["ann@example.org"],
        date=BASE_TS + 3600,
        in_reply_to=first_id,
    )
    third, _ = build_mime(
        subject="thanks!",
        from_="Ann <ann@example.org>",
        to=[ME],
        date=BASE_TS + 7200,
        in_reply_to=second_id,
    )
    return first, second, third


def _threads(api: Any) -> list[dict[str, Any]]:
    return list(api.get("/threads").json())


def test_replies_stored_before_their_parents_share_one_thread(engine, account, api):
    first, second, third = _conversation()
    _store(engine, account, [third], [second], [first])  # newest first, one per batch

    threads = _threads(api)
    assert len(threads) == 1
    thread = threads[0]
    assert len(thread["message_ids"]) == 3
    assert thread["subject"] == "Budget 2027"  # the first message's subject
    assert thread["first_message_timestamp"] == BASE_TS
    assert thread["last_message_timestamp"] == BASE_TS + 7200


def test_one_batch_in_any_order_threads_like_one_at_a_time(engine, api):
    first, second, third = _conversation()
    batched = engine.new_account()
    _store(engine, batched, [third, first, second])
    one_by_one = engine.new_account()
    _store(engine, one_by_one, [first], [second], [third])

    def shape(account: dict[str, Any]) -> list[tuple[str, int, int, int]]:
        client = engine.client(account["id"])
        return [
            (
                t["subject"],
                len(t["message_ids"]),
                t["first_message_timestamp"],
                t["last_message_timestamp"],
            )
            for t in client.get("/threads").json()
        ]

    assert shape(batched) == shape(one_by_one) == [("Budget 2027", 3, BASE_TS, BASE_TS + 7200)]


def test_same_subject_threads_only_with_shared_people(engine, account, api):
    day = 24 * 3600

    def lunch(from_: str, to: str, date: int) -> bytes:
        return build_mime(subject="Lunch?", from_=from_, to=[to], date=date)[0]

    raws = [
        lunch("bob@example.org", ME, BASE_TS),
        lunch(ME, "bob@example.org", BASE_TS + 60),
        lunch("eve@example.org", "zed@example.org", BASE_TS),  # other people: another talk
        lunch("bob@example.org", ME, BASE_TS + 90 * day),  # months later: a new one
    ]
    _store(engine, account, list(reversed(raws)))

    sizes = sorted(len(t["message_ids"]) for t in _threads(api))
    assert sizes == [1, 1, 2]


def test_a_reply_into_a_long_thread_reads_none_of_its_peoples_addresses(engine, account, api):
    """A message that a message we hold names (or that names one) joins that thread without
    the subject rule, so the people of the thread's messages (which the subject rule
    compares) are not read: a reply into a mailing-list thread of thousands would else read
    them all. A message nothing ties to a thread still finds one by subject and people."""
    from sqlalchemy import event

    root, root_id = build_mime(
        subject="List topic", from_="Ann <ann@example.org>", to=[ME], date=BASE_TS
    )
    replies = [
        build_mime(
            subject="Re: List topic",
            from_=f"P{n} <p{n}@example.org>",
            to=[ME, "ann@example.org"],
            date=BASE_TS + 60 * n,
            in_reply_to=root_id,
        )[0]
        for n in range(1, 30)
    ]
    _store(engine, account, [root, *replies])
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(engine.db.engine, "before_cursor_execute", seen)
    try:
        reply, _ = build_mime(
            subject="Re: List topic",
            from_="Zed <zed@example.org>",
            to=[ME],
            date=BASE_TS + 3600,
            in_reply_to=root_id,
        )
        _store(engine, account, [reply])
    finally:
        event.remove(engine.db.engine, "before_cursor_execute", seen)
    assert not [s for s in statements if "from_addr AS" in s and "DISTINCT" in s]
    # Tied by nothing, same subject and people: the subject rule still reads them and joins.
    loose, _ = build_mime(
        subject="Re: List topic", from_="Ann <ann@example.org>", to=[ME], date=BASE_TS + 7200
    )
    _store(engine, account, [loose])
    threads = api.get("/threads").json()
    assert len(threads) == 1 and len(threads[0]["message_ids"]) == 32


def test_threads_by_subject_are_looked_up_by_subject(engine, account, api):
    """The subject rule reads the threads of a batch's subjects through the subject index.
    On SQLite the date window must not be what picks the rows: in a first sync nearly every
    stored thread is inside it, and each batch would read all the threads stored before."""
    from sqlalchemy import event

    if engine.db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's query planner")
    _store(
        engine,
        account,
        [
            build_mime(subject=f"Topic {n}", from_=ANN, to=[ME], date=BASE_TS + n)[0]
            for n in range(5)
        ],
    )
    asked: list[tuple[str, Any]] = []

    def seen(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
        if "FROM threads" in statement and "subject_key IN" in statement:
            asked.append((statement, parameters))

    event.listen(engine.db.engine, "before_cursor_execute", seen)
    try:
        _store(
            engine,
            account,
            [build_mime(subject="Topic 2", from_=ANN, to=[ME], date=BASE_TS + 9)[0]],
        )
    finally:
        event.remove(engine.db.engine, "before_cursor_execute", seen)
    assert asked
    with engine.db.engine.connect() as conn:
        for statement, parameters in asked:
            plan = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
            assert [row[-1] for row in plan] == [
                "SEARCH threads USING INDEX ix_threads_subject (account_id=? AND subject_key=?)"
            ]
    assert sorted(len(t["message_ids"]) for t in _threads(api)) == [1, 1, 1, 1, 2]
