"""Stored thread summaries (store/thread_summary.py) stay what the thread's messages say.

After every kind of change — flags through the API, a move, a delete, a new message by
import, a draft written, updated, deleted — the thread a client reads equals what its
messages and drafts, read one by one, say; and the stored row equals one computed from
scratch.
"""

from __future__ import annotations

from typing import Any

import pytest
from mailfactory import Mailbox, category_id
from sqlalchemy import select

T0 = 1_650_000_000


def _from_messages(api: Any, thread_id: str) -> dict[str, Any]:
    """The thread's aggregates worked out by a client from its messages and drafts."""
    messages = api.get("/messages", params={"thread_id": thread_id}).json()
    drafts = api.get("/drafts", params={"thread_id": thread_id}).json()
    messages.sort(key=lambda m: m["date"])
    drafts.sort(key=lambda m: m["date"])
    participants: list[dict[str, str]] = []
    for message in messages:
        for person in message["from"] + message["to"] + message["cc"] + message["bcc"]:
            email = person["email"].lower()
            if email not in [p["email"] for p in participants]:
                participants.append({"name": person.get("name") or "", "email": email})
    newest = (messages or drafts)[-1]
    return {
        "message_ids": [m["id"] for m in messages],
        "draft_ids": [d["id"] for d in drafts],
        "unread": any(m["unread"] for m in messages),
        "starred": any(m["starred"] for m in messages),
        "has_attachments": any(m["files"] for m in messages),
        "participants": participants,
        "snippet": newest["snippet"],
        "folders": sorted({m["folder"]["id"] for m in messages + drafts if m["folder"]}),
    }


def _stored_equals_scratch(engine: Any, thread_id: str) -> None:
    from nylas_engine.store import thread_summary
    from nylas_engine.store.models import Thread

    with engine.db.session() as session:
        thread = session.scalar(select(Thread).where(Thread.public_id == thread_id))
        assert thread is not None
        stored = thread_summary.load(session, [thread.id])[thread.id]
        assert stored == thread_summary.compute(session.connection(), [thread.id])[thread.id]


def check(api: Any, engine: Any, thread_id: str) -> dict[str, Any]:
    """The thread as listed and as read equals the client's own computation; returns it."""
    thread = api.get(f"/threads/{thread_id}").json()
    listed = [t for t in api.get("/threads").json() if t["id"] == thread_id]
    assert listed == [thread]
    expected = _from_messages(api, thread_id)
    got = {key: thread[key] for key in expected if key != "folders"}
    got["folders"] = sorted(f["id"] for f in thread["folders"])
    assert got == expected
    _stored_equals_scratch(engine, thread_id)
    return dict(thread)


@pytest.fixture
def box(engine: Any, account: dict[str, Any]) -> Mailbox:
    return Mailbox(engine, account)


@pytest.fixture
def first(box: Mailbox) -> dict[str, Any]:
    return box.add(
        "Plans",
        from_="Alice <Alice@Example.org>",
        cc=["Carol <carol@x.com>"],
        date=T0,
        unread=False,
        folder="inbox",
    )


def test_new_message_by_import_joins_the_summary(api, engine, box, first):
    before = check(api, engine, first["thread_id"])
    assert before["unread"] is False and before["has_attachments"] is False
    reply = box.add(
        "Re: Plans",
        from_="Bob <bob@x.com>",
        date=T0 + 60,
        reply_to=first,
        files=[("plan.txt", "text/plain", b"step 1")],
        folder="inbox",
    )
    assert reply["thread_id"] == first["thread_id"]
    after = check(api, engine, first["thread_id"])
    assert after["message_ids"] == [first["id"], reply["id"]]
    assert after["unread"] is True and after["has_attachments"] is True
    assert "bob@x.com" in [p["email"] for p in after["participants"]]


def test_flags_through_the_api(api, engine, box, first):
    reply = box.add("Re: Plans", from_="bob@x.com", date=T0 + 60, reply_to=first)
    thread_id = first["thread_id"]
    assert api.put(f"/messages/{reply['id']}", json={"unread": False}).status_code == 200
    assert check(api, engine, thread_id)["unread"] is False
    assert api.put(f"/messages/{first['id']}", json={"starred": True}).status_code == 200
    assert check(api, engine, thread_id)["starred"] is True
    assert api.put(f"/threads/{thread_id}", json={"unread": True, "starred": False}).json()[
        "unread"
    ]
    thread = check(api, engine, thread_id)
    assert thread["unread"] is True and thread["starred"] is False
    unread = [t["id"] for t in api.get("/threads", params={"unread": "true"}).json()]
    assert thread_id in unread


def test_move_to_another_folder(api, engine, box, first):
    reply = box.add("Re: Plans", from_="bob@x.com", date=T0 + 60, reply_to=first)
    archive = category_id(api, "folder", "archive")
    reply_put = api.put(f"/messages/{reply['id']}", json={"folder_id": archive})
    assert reply_put.status_code == 200
    thread = check(api, engine, first["thread_id"])
    assert archive in [f["id"] for f in thread["folders"]]
    assert api.put(f"/threads/{first['thread_id']}", json={"folder_id": archive}).status_code == 200
    thread = check(api, engine, first["thread_id"])
    assert [f["id"] for f in thread["folders"]] == [archive]
    in_archive = api.get("/threads", params={"in": "archive"}).json()
    assert thread in in_archive


def test_deleted_message_leaves_the_summary(api, engine, box, first):
    """A message deleted by the sync (it left every folder on the server)."""
    from nylas_engine.store.models import Message, now

    reply = box.add(
        "Re: Plans",
        from_="Bob <bob@x.com>",
        date=T0 + 60,
        reply_to=first,
        files=[("plan.txt", "text/plain", b"step 1")],
    )
    assert check(api, engine, first["thread_id"])["has_attachments"] is True
    with engine.db.session() as session:
        message = session.scalar(select(Message).where(Message.public_id == reply["id"]))
        message.deleted_at = now()
    thread = check(api, engine, first["thread_id"])
    assert thread["message_ids"] == [first["id"]]
    assert thread["has_attachments"] is False and thread["unread"] is False
    assert "bob@x.com" not in [p["email"] for p in thread["participants"]]


def test_drafts_written_updated_deleted(api, engine, first):
    thread_id = first["thread_id"]
    draft = api.post(
        "/drafts",
        json={"subject": "Re: Plans", "reply_to_message_id": first["id"], "body": "Sure"},
    ).json()
    assert draft["thread_id"] == thread_id
    thread = check(api, engine, thread_id)
    assert thread["draft_ids"] == [draft["id"]]
    assert thread["message_ids"] == [first["id"]]
    expanded = api.get(f"/threads/{thread_id}", params={"view": "expanded"}).json()
    assert [d["id"] for d in expanded["drafts"]] == [draft["id"]]
    assert expanded["drafts"][0]["reply_to_message_id"] == first["id"]
    assert [m["id"] for m in expanded["messages"]] == [first["id"]]
    updated = api.put(
        f"/drafts/{draft['id']}", json={"version": draft["version"], "to": [{"email": "z@x.com"}]}
    )
    assert updated.status_code == 200
    check(api, engine, thread_id)
    deleted = api.request(
        "DELETE", f"/drafts/{draft['id']}", json={"version": updated.json()["version"]}
    )
    assert deleted.status_code == 200
    assert check(api, engine, thread_id)["draft_ids"] == []


def test_a_long_thread_lists_as_one_row(api, engine, box, first):
    previous = first
    for n in range(1, 40):
        previous = box.add("Re: Plans", from_=f"p{n}@x.com", date=T0 + n * 60, reply_to=previous)
    thread = check(api, engine, first["thread_id"])
    assert len(thread["message_ids"]) == 40
    assert len(thread["participants"]) == 40 + 2  # alice, carol (cc) and the 39 + the owner
    page = api.get("/threads", params={"limit": 1}).json()
    assert page == [thread]
    assert api.get("/threads", params={"view": "ids", "limit": 1}).json() == [thread["id"]]


def test_api_move_after_the_sync_moved_the_message_meanwhile(api, engine, box, first):
    """The message's folder changed between the API's read and its write (the sync filed
    it elsewhere): the move is worked out again from fresh rows, not a 500."""
    from nylas_engine.store.messages import find_message, update_message
    from nylas_engine.store.models import Account, Category, Message

    archive = category_id(api, "folder", "archive")
    with engine.db.session() as reader:
        account = reader.scalar(select(Account).where(Account.public_id == first_account(api)))
        message = find_message(reader, account, first["id"])
        assert [c.name for c in message.categories] == ["inbox"]
        with engine.db.session() as sync:  # another writer files it in the archive
            moved = sync.scalar(select(Message).where(Message.public_id == first["id"]))
            moved.categories = [sync.scalar(select(Category).where(Category.public_id == archive))]
        trash = reader.scalar(
            select(Category).where(Category.account_id == account.id, Category.name == "trash")
        )
        update_message(reader, account, message, {"folder_id": trash.public_id})
    thread = check(api, engine, first["thread_id"])
    assert [f["name"] for f in thread["folders"]] == ["trash"]


def first_account(api: Any) -> str:
    return str(api.get("/account").json()["id"])


def test_upgrading_a_database_from_before_summaries_fills_them(new_database, tmp_path):
    """Threads stored before revision 0017 get their summaries when the database is brought
    to the newest revision (computed by the running version, after the migrations)."""
    from alembic import command
    from alembic.config import Config

    from nylas_engine.store import thread_summary
    from nylas_engine.store.accounts import create_account
    from nylas_engine.store.db import MIGRATIONS_DIR, Database, migrate
    from nylas_engine.store.models import Message, Thread

    url = new_database() or f"sqlite:///{tmp_path / 'engine.db'}"
    db = Database(url)
    with db.session() as session:
        account = create_account(session, "old@example.com", name="Old")
        thread = Thread(account_id=account.id, subject="Old news")
        session.add(thread)
        session.flush()
        session.add_all(
            Message(account_id=account.id, thread_id=thread.id, subject="Old news", unread=u)
            for u in (False, True)
        )
        session.flush()
        thread_id = thread.id
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with db.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0016")
    migrate(db.engine)
    with db.engine.connect() as conn:
        stored = conn.execute(
            select(thread_summary._SUMMARY).where(thread_summary._SUMMARY.c.thread_id == thread_id)
        ).one()
        computed = thread_summary.compute(conn, [thread_id])[thread_id]
    assert dict(stored._mapping) == computed
    assert computed["unread"] is True and len(computed["message_ids"]) == 2
    db.engine.dispose()


def _no_read_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """From now on, a summary made from all of a thread's messages read back fails."""
    from nylas_engine.store import thread_summary

    def read_back(_connection: Any, thread_ids: Any) -> dict[int, dict[str, Any]]:
        ids = sorted(set(thread_ids))
        assert not ids, f"summaries of {ids} read their messages back"
        return {}

    monkeypatch.setattr(thread_summary, "compute", read_back)


def test_messages_after_or_before_all_others_grow_the_stored_summary(
    api, engine, box, first, monkeypatch
):
    """New mail at either end of a thread (the usual case: a reply arrives, or a first
    sync fetching newest first reaches an older message) updates the stored summary without
    reading the thread's messages back, and gives what they say: the older message's
    participants and name first, the newest message's snippet."""
    _no_read_back(monkeypatch)
    later = box.add(
        "Re: Plans",
        from_="Bob <bob@x.com>",
        cc=["ALICE@example.org"],
        date=T0 + 60,
        reply_to=first,
        body="Later words",
        folder="archive",
    )
    earlier = box.add(
        "Plans",
        from_="Dave <dave@x.com>",
        to=["Alice Again <alice@example.org>"],
        date=T0 - 3600,
        reply_to=first,
        body="Earlier words",
        files=[("plan.txt", "text/plain", b"step 1")],
        starred=True,
        folder="inbox",
    )
    # The same second as the newest: it sorts after it (a higher id), as the thread shows.
    same = box.add("Re: Plans", from_="Fay <fay@x.com>", date=T0 + 60, reply_to=later)
    monkeypatch.undo()
    assert earlier["thread_id"] == later["thread_id"] == same["thread_id"] == first["thread_id"]
    _stored_equals_scratch(engine, first["thread_id"])
    thread = api.get(f"/threads/{first['thread_id']}").json()
    assert thread["message_ids"] == [earlier["id"], first["id"], later["id"], same["id"]]
    emails = [p["email"] for p in thread["participants"]]
    assert emails[:2] == ["dave@x.com", "alice@example.org"] and emails[-1] == "fay@x.com"
    assert thread["participants"][1]["name"] == "Alice Again"
    assert thread["snippet"].startswith("Hello there")  # the newest's (`same`) body
    assert thread["starred"] and thread["has_attachments"] and thread["unread"]


def test_a_message_after_all_others_joins_the_summary_as_a_client_sees_it(
    api, engine, box, first, monkeypatch
):
    _no_read_back(monkeypatch)
    reply = box.add(
        "Re: Plans", from_="Bob <bob@x.com>", date=T0 + 60, reply_to=first, body="Later words"
    )
    older = box.add("Plans", from_="Dave <dave@x.com>", date=T0 - 60, reply_to=first)
    monkeypatch.undo()
    thread = check(api, engine, first["thread_id"])
    assert thread["message_ids"] == [older["id"], first["id"], reply["id"]]
    assert thread["snippet"].startswith("Later words")


def test_a_message_between_others_or_a_draft_reads_the_thread_back(api, engine, box, first):
    """Where new mail falls between a thread's messages, or the thread has drafts, its
    summary is made from all its messages, and still says what they say."""
    last = box.add("Re: Plans", from_="Bob <bob@x.com>", date=T0 + 600, reply_to=first)
    middle = box.add("Re: Plans", from_="Eve <eve@x.com>", date=T0 + 300, reply_to=first)
    thread = check(api, engine, first["thread_id"])
    assert thread["message_ids"] == [first["id"], middle["id"], last["id"]]
    # The same second as the oldest: after it (a higher id), so between the others too.
    tie = box.add("Re: Plans", from_="Gus <gus@x.com>", date=T0, reply_to=first)
    _stored_equals_scratch(engine, first["thread_id"])
    thread = api.get(f"/threads/{first['thread_id']}").json()
    assert thread["message_ids"] == [first["id"], tie["id"], middle["id"], last["id"]]
    draft = api.post(
        "/drafts",
        json={"subject": "Re: Plans", "reply_to_message_id": last["id"], "body": "Soon"},
    ).json()
    newer = box.add("Re: Plans", from_="Bob <bob@x.com>", date=T0 + 900, reply_to=last)
    _stored_equals_scratch(engine, first["thread_id"])
    thread = api.get(f"/threads/{first['thread_id']}").json()
    ids = [first["id"], tie["id"], middle["id"], last["id"], newer["id"]]
    assert thread["message_ids"] == ids
    assert thread["draft_ids"] == [draft["id"]]


def test_every_summary_after_batches_in_any_order_is_what_the_messages_say(engine, account):
    """Threads filled by batches of mail in no particular order (as a first sync and later
    passes bring it: replies before and after what is stored, several per thread in one
    batch, equal dates, files, flags, two folders): every stored summary equals one made
    from scratch."""
    import random

    from mailfactory import build_mime

    from nylas_engine.store import thread_summary
    from nylas_engine.store.blobs import BlobStore
    from nylas_engine.store.mail import NewMessage, get_or_create_category, ingest_messages
    from nylas_engine.store.models import Account, Thread

    rng = random.Random(7)
    roots = [build_mime(subject=f"Topic {t}", from_="Root <root@x.com>", to=["me@x.com"],
                        date=T0 + t) for t in range(6)]  # fmt: skip
    mails = []
    for n in range(60):
        topic = rng.randrange(6)
        mails.append(
            build_mime(
                subject=f"Re: Topic {topic}",
                from_=f"P{rng.randrange(9)} <p{rng.randrange(9)}@x.com>",
                to=["me@x.com"],
                cc=[f"Q <q{rng.randrange(5)}@x.com>"] if rng.random() < 0.5 else None,
                date=T0 + rng.choice([-7200, -60, 0, 60, 3600, 60 * n]),
                files=[("a.txt", "text/plain", b"x")] if rng.random() < 0.2 else None,
                in_reply_to=roots[topic][1],
            )[0]
        )
    order = [raw for raw, _ in roots] + mails
    rng.shuffle(order)
    blobs = BlobStore(engine.data_dir / "blobs")
    for start in range(0, len(order), 7):
        with engine.db.session() as session:
            me = session.scalar(select(Account).where(Account.public_id == account["id"]))
            folders = [get_or_create_category(session, me, name, None) for name in ("A", "B")]
            batch = [
                NewMessage(
                    raw,
                    categories=[rng.choice(folders)],
                    unread=rng.random() < 0.5,
                    starred=rng.random() < 0.2,
                )
                for raw in order[start : start + 7]
            ]
            ingest_messages(session, blobs, me, batch)
    with engine.db.session() as session:
        me = session.scalar(select(Account).where(Account.public_id == account["id"]))
        ids = list(session.scalars(select(Thread.id).where(Thread.account_id == me.id)))
        assert len(ids) >= 6
        stored = thread_summary.load(session, ids)
        assert stored == thread_summary.compute(session.connection(), ids)
        assert sum(len(s["message_ids"]) for s in stored.values()) == 66
