"""GET /threads/search and /messages/search, plain and streaming (docs/protocol.md §14)."""

from __future__ import annotations

import contextlib
import json
import random
import string
from collections.abc import Iterator
from typing import Any

import pytest
from mailfactory import Mailbox

T0 = 1_600_000_000


@contextlib.contextmanager
def searching(
    engine: Any, account: dict[str, Any], backend: str, monkeypatch: Any
) -> Iterator[Any]:
    """A session, the account's row and the backend to search it with, in-process. "like, no
    index" is LIKE as for words the trigram index can't narrow; "fts" skips where there is
    no FTS5 (PostgreSQL)."""
    from sqlalchemy import select

    from nylas_engine.search import query
    from nylas_engine.search.index import uses_fts
    from nylas_engine.store.models import Account

    if backend == "like, no index":
        monkeypatch.setattr(query, "trigram_indexable", lambda words: False)
        backend = "like"
    with engine.db.session() as session:
        if backend == "fts" and not uses_fts(session):
            pytest.skip("FTS5 is SQLite's")
        owner = session.scalar(select(Account).where(Account.public_id == account["id"]))
        yield session, owner, backend


@pytest.fixture
def mail(engine: Any, account: dict[str, Any]) -> dict[str, Any]:
    box = Mailbox(engine, account)
    first = box.add("Budget planning", body="numbers for the zebra project", date=T0 + 10)
    second = box.add("Re: Budget planning", body="more zebra numbers", date=T0 + 20, reply_to=first)
    other = box.add(
        "Holiday",
        body="beach and sun",
        date=T0 + 30,
        files=[("zebra.png", "image/png", b"\x89PNG")],
    )
    draft = box.add("zebra draft", body="zebra", date=T0 + 40, draft=True)
    return {"first": first, "second": second, "other": other, "draft": draft}


def test_message_search_newest_first_without_drafts(api, mail):
    response = api.get("/messages/search", params={"q": "zebra"})
    assert response.status_code == 200
    found = response.json()
    assert [m["id"] for m in found] == [
        mail["other"]["id"],
        mail["second"]["id"],
        mail["first"]["id"],
    ]
    assert found[0]["object"] == "message"
    assert api.get("/messages/search", params={"q": "giraffe"}).json() == []
    paged = api.get("/messages/search", params={"q": "zebra", "limit": 1, "offset": 1}).json()
    assert [m["id"] for m in paged] == [mail["second"]["id"]]


def test_thread_search_and_its_views(api, mail):
    found = api.get("/threads/search", params={"q": "numbers"}).json()
    assert [t["id"] for t in found] == [mail["first"]["thread_id"]]
    assert found[0]["object"] == "thread"
    assert "message_ids" in found[0]
    expanded = api.get("/threads/search", params={"q": "numbers", "view": "expanded"}).json()
    assert [m["id"] for m in expanded[0]["messages"]] == [mail["first"]["id"], mail["second"]["id"]]
    assert api.get("/threads/search", params={"q": "zebra", "view": "ids"}).json() == [
        mail["other"]["thread_id"],
        mail["first"]["thread_id"],
    ]
    assert api.get("/threads/search", params={"q": "zebra", "view": "count"}).json() == {"count": 2}


@pytest.mark.parametrize("path", ["/threads/search", "/messages/search"])
def test_query_is_required_and_bounded(api, path):
    for params in ({}, {"q": ""}, {"q": "   "}):
        response = api.get(path, params=params)
        assert response.status_code == 400
        assert response.json()["message"] == "GET HTTP method must include query url parameter"
    assert api.get(path, params={"q": "x" * 256}).status_code == 400
    assert api.get(path, params={"q": "x", "limit": "lots"}).status_code == 400


@pytest.mark.parametrize("kind", ["threads", "messages"])
def test_streaming_writes_one_json_array_per_line(api, mail, kind):
    response = api.get(f"/{kind}/search/streaming", params={"q": "zebra"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/json-stream")
    lines = [line for line in response.text.splitlines() if line.strip()]
    batches = [json.loads(line) for line in lines]
    assert all(isinstance(batch, list) for batch in batches)
    got = [item["id"] for batch in batches for item in batch]
    if kind == "messages":
        assert got == [mail["other"]["id"], mail["second"]["id"], mail["first"]["id"]]
    else:
        assert got == [mail["other"]["thread_id"], mail["first"]["thread_id"]]
    none = api.get(f"/{kind}/search/streaming", params={"q": "giraffe"})
    assert [json.loads(x) for x in none.text.splitlines() if x.strip()] == [[]]
    assert api.get(f"/{kind}/search/streaming").status_code == 400


def test_search_needs_a_working_account(engine, api, account, mail):
    from sqlalchemy import update

    from nylas_engine.store.models import Account

    with engine.db.session() as session:
        session.execute(
            update(Account).where(Account.public_id == account["id"]).values(sync_state="invalid")
        )
    response = api.get("/messages/search", params={"q": "zebra"})
    assert response.status_code == 403
    assert api.get("/messages", params={"limit": 1}).status_code == 200


def test_search_leaves_out_deleted_mail_and_other_accounts(engine, api, account, mail):
    """Hits are read from the index first: what the index still holds for a deleted message,
    a deleted thread or another account's mail is not found."""
    from sqlalchemy import select

    from nylas_engine.store.models import Message, Thread, now

    stranger = engine.new_account()
    Mailbox(engine, stranger).add("zebra elsewhere", body="zebra", date=T0 + 50)
    with engine.db.session() as session:
        message = session.scalar(select(Message).where(Message.public_id == mail["other"]["id"]))
        message.deleted_at = now()
        thread = session.scalar(
            select(Thread).where(Thread.public_id == mail["first"]["thread_id"])
        )
        thread.deleted_at = now()
    assert api.get("/messages/search", params={"q": "zebra"}).json() == []
    assert api.get("/threads/search", params={"q": "zebra"}).json() == []
    with engine.client(stranger["id"]) as theirs:
        assert [
            m["subject"] for m in theirs.get("/messages/search", params={"q": "zebra"}).json()
        ] == ["zebra elsewhere"]


@pytest.mark.parametrize("backend", ["fts", "like", "like, no index"])
@pytest.mark.parametrize("window", [1, 2, 1000])
def test_a_search_page_is_the_same_whether_the_newest_hold_it_or_not(
    engine, account, mail, monkeypatch, window, backend
):
    """Search looks for a page among the newest messages first, then among all matches:
    either way, every page is the same slice of all the matches, also when mail imported
    last is older than the rest."""
    from nylas_engine.search import query, search_messages

    box = Mailbox(engine, account)
    newest = box.add("Zebra news", body="no stripes", date=T0 + 60)
    archived = box.add("An old zebra", body="from the archive", date=T0 + 5)
    monkeypatch.setattr(query, "RECENT_WINDOW", window)
    with searching(engine, account, backend, monkeypatch) as (session, owner, backend):

        def search(q: str, limit: int = 100, offset: int = 0) -> list[str]:
            found = search_messages(session, owner, q, limit, offset, backend=backend)
            return [m.public_id for m in found]

        older = [mail[k]["id"] for k in ("other", "second", "first")]
        assert search("zebra") == [newest["id"], *older, archived["id"]]
        for limit in (1, 2, 3):
            for offset in range(6):
                assert search("zebra", limit, offset) == search("zebra")[offset : offset + limit]
        assert search("ZEBRA numbers") == [mail["second"]["id"], mail["first"]["id"]]


@pytest.mark.parametrize("backend", ["fts", "like", "like, no index"])
@pytest.mark.parametrize("window", [1, 1000])
def test_words_without_letters_and_words_in_capitals(engine, monkeypatch, window, backend):
    """A word without letters (`42`) is matched as written (PostgreSQL: by LIKE, which needs
    no lower-casing), one with letters in any case; a word of each kind together."""
    from nylas_engine.search import query, search_messages

    # An address without digits: LIKE finds `42` in the participants too, and the shared
    # engine's accounts are user1@, user2@, ... (user42@ matched every message).
    letters = "".join(random.choices(string.ascii_lowercase, k=16))
    account = engine.new_account(email=f"{letters}@example.com")
    box = Mailbox(engine, account)
    dated = box.add("Invoice 2024-17", body="Total: 42 EUR", date=T0 + 1)
    loud = box.add("INVOICE 42", body="due now", date=T0 + 2)
    box.add("invoice", body="no number in it", date=T0 + 3)
    box.add("Room 4 2", body="four, two", date=T0 + 4)
    monkeypatch.setattr(query, "RECENT_WINDOW", window)
    with searching(engine, account, backend, monkeypatch) as (session, owner, backend):

        def search(q: str) -> list[str]:
            return [m.public_id for m in search_messages(session, owner, q, backend=backend)]

        assert search("42") == [loud["id"], dated["id"]]
        assert search("invoice 42") == [loud["id"], dated["id"]]
        assert search("42 INVOICE") == [loud["id"], dated["id"]]
        assert search("2024-17") == [dated["id"]]
        assert search("Invoice 2024") == [dated["id"]]


@pytest.mark.parametrize("backend", ["fts", "like", "like, no index"])
@pytest.mark.parametrize("window", [1, 2, 3, 1000])
def test_a_thread_search_page_is_the_same_whether_the_newest_threads_hold_it_or_not(
    engine, account, mail, monkeypatch, window, backend
):
    """Thread search looks for a page among the newest threads first, then among all the
    threads with a match: every page is the same slice of all of them, newest first by
    last message, also when an old match sits in a thread with a new message."""
    from nylas_engine.search import query, search_threads

    box = Mailbox(engine, account)
    quiet = box.add("Plain news", body="no stripes", date=T0 + 70)
    box.add("Zebra crossing", body="stripes", date=T0 + 1)
    box.add("Re: Plain news", body="a zebra after all", date=T0 + 80, reply_to=quiet)
    box.add("Elsewhere", body="nothing here", date=T0 + 90)
    with searching(engine, account, backend, monkeypatch) as (session, owner, backend):

        def search(q: str, limit: int = 100, offset: int = 0) -> list[str]:
            found = search_threads(session, owner, q, limit, offset, backend=backend)
            return [t.public_id for t in found]

        everything = search("zebra")
        assert everything[0] == quiet["thread_id"] and len(everything) == 4
        monkeypatch.setattr(query, "RECENT_WINDOW", window)
        for limit in (1, 2, 3):
            for offset in range(6):
                assert search("zebra", limit, offset) == everything[offset : offset + limit]
        assert search("ZEBRA numbers") == [mail["first"]["thread_id"]]


def test_a_reused_message_id_does_not_bring_back_what_the_index_held(engine, api, account):
    """SQLite hands the newest row's id out again once that row is deleted outright (as an
    account's deletion deletes its messages); the index entry left under it is dropped
    when a new message takes the id (after one such message, and after two)."""
    from sqlalchemy import text

    from nylas_engine.search.index import uses_fts

    box = Mailbox(engine, account)
    with engine.db.session() as session:
        if not uses_fts(session):
            pytest.skip("FTS5 is SQLite's")
    for words in (["okapi"], ["quagga", "tapir"]):
        gone = [box.add(f"{w} notes", body=f"{w} sightings", date=T0 + 10) for w in words]
        with engine.db.session() as session:
            for message in gone:
                session.execute(
                    text("DELETE FROM messages WHERE public_id = :id"), {"id": message["id"]}
                )
        kept = [box.add(f"zebu {i}", body="zebu", date=T0 + 20) for i, _ in enumerate(words)]
        for word in words:
            assert api.get("/messages/search", params={"q": word}).json() == []
        found = api.get("/messages/search", params={"q": "zebu"}).json()
        assert {m["id"] for m in kept} <= {m["id"] for m in found}
