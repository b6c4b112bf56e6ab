"""Idempotency-Key: a retried write returns the first reply and does nothing twice.

Keys belong to the principal (not the header's spelling), are bound to one request (422
for another), expire after a day, never keep sign-in replies, keep a send's success once
the SMTP server has taken the message, and survive the engine being killed mid-send."""

from __future__ import annotations

import base64
import contextlib
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from conftest import Engine
from smtp_listener import SmtpListener
from sqlalchemy import select, text, update

from nylas_engine.store.models import IdempotentResponse


def test_same_key_replays_the_first_reply_and_creates_once(api):
    headers = {"Idempotency-Key": "create-folder-1"}
    first = api.post("/folders", json={"display_name": "Once"}, headers=headers)
    again = api.post("/folders", json={"display_name": "Once"}, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    names = [f["display_name"] for f in api.get("/folders").json()]
    assert names.count("Once") == 1


def test_a_new_key_is_a_new_request(api):
    one = api.post("/folders", json={"display_name": "A"}, headers={"Idempotency-Key": "k-a"})
    two = api.post("/folders", json={"display_name": "B"}, headers={"Idempotency-Key": "k-b"})
    assert one.json()["id"] != two.json()["id"]


def test_error_replies_are_replayed_too_but_not_across_accounts(engine, api):
    bad = api.post("/folders", json={"display_name": 5}, headers={"Idempotency-Key": "bad-1"})
    assert bad.status_code == 400
    again = api.post("/folders", json={"display_name": 5}, headers={"Idempotency-Key": "bad-1"})
    assert (again.status_code, again.json()) == (400, bad.json())

    other = engine.new_account()
    with engine.client(other["id"]) as client:
        mine = client.post(
            "/folders", json={"display_name": "Other"}, headers={"Idempotency-Key": "bad-1"}
        )
        assert mine.status_code == 200
        assert mine.json()["display_name"] == "Other"
        assert "idempotent-replayed" not in mine.headers


def test_requests_without_credentials_are_never_replayed(engine):
    data = {"client_id": "nope", "client_secret": "nope", "code": "x"}
    key = {"Idempotency-Key": "anon-1"}
    first = httpx.post(engine.url + "/oauth/token", data=data, headers=key)
    second = httpx.post(engine.url + "/oauth/token", data=data, headers=key)
    assert first.status_code >= 400 and second.status_code >= 400
    assert "idempotent-replayed" not in second.headers


# --------------------------------------------------------------------------- scope, binding


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_every_spelling_of_one_credential_shares_its_keys(engine, sender, listener):
    token = sender["id"]
    body = {"to": [{"email": "ann@x.com"}], "subject": "Spelled three ways"}
    replies = [
        httpx.post(
            engine.url + "/send",
            json=body,
            headers={"Authorization": authorization, "Idempotency-Key": "spelling-1"},
        )
        for authorization in (f"Bearer {token}", f"bearer {token}", f"Basic {_b64(token + ':')}")
    ]
    assert [r.status_code for r in replies] == [200, 200, 200]
    assert replies[1].json() == replies[2].json() == replies[0].json()
    assert [r.headers.get("idempotent-replayed") for r in replies] == [None, "true", "true"]
    assert len(listener.messages) == 1


def test_concurrent_sends_with_one_key_send_once(engine, sender, listener):
    body = {"to": [{"email": "ann@x.com"}], "subject": "Ten at once"}
    key = {"Idempotency-Key": "ten-at-once"}
    clients = [engine.client(sender["id"]) for _ in range(10)]
    barrier = threading.Barrier(len(clients))

    def send(client: httpx.Client) -> httpx.Response:
        barrier.wait()
        return client.post("/send", json=body, headers=key)

    try:
        with ThreadPoolExecutor(len(clients)) as pool:
            replies = list(pool.map(send, clients))
    finally:
        for client in clients:
            client.close()
    ok = [r for r in replies if r.status_code == 200]
    assert ok and all(r.json() == ok[0].json() for r in ok)
    assert all(r.status_code in (200, 409) for r in replies), [r.text for r in replies]
    assert len(listener.messages) == 1


def test_a_key_reused_for_another_request_is_refused_and_says_so(api):
    key = {"Idempotency-Key": "reused-1"}
    first = api.post("/folders", json={"display_name": "Reused"}, headers=key)
    assert first.status_code == 200
    other_body = api.post("/folders", json={"display_name": "Other"}, headers=key)
    other_path = api.post("/contacts", json={"given_name": "Reused"}, headers=key)
    other_method = api.delete(f"/folders/{first.json()['id']}", headers=key)
    for reply in (other_body, other_path, other_method):
        assert reply.status_code == 422, reply.text
        error = reply.json()
        assert error["type"] == "invalid_request_error"
        assert "Idempotency-Key was already used for another request" in error["message"]
        assert "POST /folders" in error["message"]
    names = [f["display_name"] for f in api.get("/folders").json()]
    assert names.count("Reused") == 1 and "Other" not in names
    assert api.get("/contacts").json() == []
    again = api.post("/folders", json={"display_name": "Reused"}, headers=key)
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"


def test_keys_expire_after_a_day(engine, api):
    key = {"Idempotency-Key": "expiring-1"}
    first = api.post("/drafts", json={"subject": "Day one"}, headers=key).json()
    with engine.db.session() as session:  # as if it had been made 25 hours ago
        session.execute(
            update(IdempotentResponse)
            .where(IdempotentResponse.key == "expiring-1")
            .values(created_at=IdempotentResponse.created_at - 25 * 3600)
        )
    later = api.post("/drafts", json={"subject": "Day one"}, headers=key)
    assert "idempotent-replayed" not in later.headers
    assert later.status_code == 200 and later.json()["id"] != first["id"]
    with engine.db.session() as session:  # the old row is gone; the new one is kept
        rows = session.scalars(
            select(IdempotentResponse).where(IdempotentResponse.key == "expiring-1")
        ).all()
        assert len(rows) == 1 and rows[0].created_at > time.time() - 3600


def test_sign_in_replies_are_never_stored(engine, account):
    headers = {"Authorization": f"Bearer {account['id']}", "Idempotency-Key": "sign-in-1"}
    body = {"client_id": "nope", "client_secret": "nope", "code": "x"}
    for path in ("/connect/token", "/connect/authorize", "/oauth/token"):
        first = httpx.post(engine.url + path, json=body, headers=headers)
        second = httpx.post(engine.url + path, json=body, headers=headers)
        assert first.status_code >= 400 and "idempotent-replayed" not in second.headers
    with engine.db.session() as session:
        stored = session.scalars(
            select(IdempotentResponse.path).where(IdempotentResponse.key == "sign-in-1")
        ).all()
        assert stored == []


def test_odd_paths_with_a_key_are_client_errors(api):
    for path in ("/drafts/%00", "/folders/%ED%A0%80", "/drafts/" + "x" * 3000):
        reply = api.put(path, json={"version": 0}, headers={"Idempotency-Key": "odd-" + path[:12]})
        assert 400 <= reply.status_code < 500, reply.text
        assert reply.json()["message"]


def test_a_reply_is_kept_when_only_user_data_names_a_token_field(api):
    key = {"Idempotency-Key": "metadata-token-1"}
    body = {"subject": "x", "metadata": {"access_token": "just a word here"}}
    first = api.post("/drafts", json=body, headers=key)
    again = api.post("/drafts", json=body, headers=key)
    assert again.headers.get("idempotent-replayed") == "true"
    assert again.json() == first.json()
    assert len(api.get("/drafts").json()) == 1


# --------------------------------------------------------------------------- after SMTP accepted


_SQLITE_TRIGGERS = [
    f"""CREATE TRIGGER fail_recording_{event.lower()} BEFORE {event} ON messages
        WHEN NEW.is_sent AND NEW.subject = 'Unrecordable'
        BEGIN SELECT RAISE(ABORT, 'injected failure'); END"""
    for event in ("INSERT", "UPDATE")
]
_POSTGRES_TRIGGERS = [
    """CREATE FUNCTION fail_recording() RETURNS trigger AS $$
       BEGIN
         IF NEW.is_sent AND NEW.subject = 'Unrecordable' THEN
           RAISE EXCEPTION 'injected failure';
         END IF;
         RETURN NEW;
       END $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER fail_recording BEFORE INSERT OR UPDATE ON messages
       FOR EACH ROW EXECUTE FUNCTION fail_recording()""",
]


@pytest.fixture
def unrecordable(engine) -> Iterator[str]:
    """The database refuses to store a sent message with the subject this yields: the
    SMTP server will have accepted it, and then storing it fails."""
    db = engine.db
    with db.engine.begin() as conn:
        for statement in _SQLITE_TRIGGERS if db.is_sqlite else _POSTGRES_TRIGGERS:
            conn.execute(text(statement))
    yield "Unrecordable"
    with db.engine.begin() as conn:
        if db.is_sqlite:
            conn.execute(text("DROP TRIGGER fail_recording_insert"))
            conn.execute(text("DROP TRIGGER fail_recording_update"))
        else:
            conn.execute(text("DROP TRIGGER fail_recording ON messages"))
            conn.execute(text("DROP FUNCTION fail_recording()"))


def test_a_send_that_fails_after_smtp_accepted_it_is_a_success_kept_by_its_key(
    engine, sender, listener, unrecordable
):
    with engine.client(sender["id"]) as api:
        body = {"to": [{"email": "ann@x.com"}], "subject": unrecordable}
        key = {"Idempotency-Key": "accepted-then-failed-1"}
        first = api.post("/send", json=body, headers=key)
        assert first.status_code == 200, first.text
        sent = first.json()
        assert (sent["object"], sent["subject"], sent["to"]) == (
            "message",
            unrecordable,
            [{"name": "", "email": "ann@x.com"}],
        )
        assert sent["id"] and sent["folder"]["name"] == "sent"
        retry = api.post("/send", json=body, headers=key)
        assert retry.status_code == 200 and retry.json() == sent
        assert retry.headers["idempotent-replayed"] == "true"
        assert len(listener.messages) == 1

        # The client's own MIME: the same.
        mime = f"To: ann@x.com\r\nSubject: {unrecordable}\r\n\r\nHello\r\n".encode()
        raw_key = {"Idempotency-Key": "accepted-then-failed-raw", "Content-Type": "message/rfc822"}
        raw = api.post("/send", content=mime, headers=raw_key)
        assert raw.status_code == 200, raw.text
        assert raw.json()["id"] and raw.json()["subject"] == unrecordable
        assert api.post("/send", content=mime, headers=raw_key).json() == raw.json()
        assert len(listener.messages) == 2

        # A saved draft: the same, and without a key the reply is a success too.
        draft = api.post("/drafts", json=body).json()
        reply = api.post("/send", json={"draft_id": draft["id"], "version": 0})
        assert reply.status_code == 200, reply.text
        assert (reply.json()["id"], reply.json()["object"]) == (draft["id"], "message")
        assert len(listener.messages) == 3


# --------------------------------------------------------------------------- engine killed


LEASE = 1.0  # seconds a key of a killed engine stays taken (60 unless configured)


@pytest.fixture
def own_engine(tmp_path, new_database) -> Iterator[Engine]:
    env = {"NYLAS_ENGINE_IDEMPOTENCY_LEASE": str(LEASE)}
    engine = Engine(tmp_path / "engine", db_url=new_database(), env=env)
    yield engine
    engine.close()


def _kill_and_restart(engine: Engine) -> None:
    assert engine.process is not None
    engine.process.send_signal(signal.SIGKILL)
    engine.process.wait(10)
    engine.process = None
    engine.start()


def _retry_until_the_lease_ends(client: httpx.Client, body: dict, key: dict) -> httpx.Response:
    deadline = time.monotonic() + 30
    while True:
        reply = client.post("/send", json=body, headers=key)
        if reply.status_code != 409 or "still in progress" not in reply.text:
            return reply
        assert time.monotonic() < deadline, "the key was never released"
        time.sleep(0.2)


def _send_in_background(engine: Engine, token: str, body: dict, key: dict) -> threading.Thread:
    def post() -> None:
        with contextlib.suppress(httpx.HTTPError):  # the engine dies under it
            httpx.post(engine.url + "/send", json=body, headers=key, auth=(token, ""), timeout=60)

    thread = threading.Thread(target=post, daemon=True)
    thread.start()
    return thread


def test_a_send_killed_before_smtp_data_is_sent_once_by_a_retry(own_engine):
    with SmtpListener(hold="MAIL") as smtp:
        own_engine.start()
        account = own_engine.new_account(**smtp.account_fields())
        body = {"to": [{"email": "ann@x.com"}], "subject": "Killed before DATA"}
        key = {"Idempotency-Key": "killed-before-data"}
        first = _send_in_background(own_engine, account["id"], body, key)
        assert smtp.held.wait(30)
        time.sleep(LEASE + 0.5)  # a request running past the lease still holds its key
        with own_engine.client(account["id"]) as client:
            running = client.post("/send", json=body, headers=key)
            assert running.status_code == 409
            assert running.headers["idempotent-replayed"] == "false"
        _kill_and_restart(own_engine)
        first.join(30)
        smtp.release.set()  # what the dead engine started goes nowhere
        with own_engine.client(account["id"]) as client:
            retry = _retry_until_the_lease_ends(client, body, key)
            assert retry.status_code == 200, retry.text
            assert len(smtp.messages) == 1
            replay = client.post("/send", json=body, headers=key)
            assert replay.json() == retry.json()
            assert len(client.get("/messages", params={"in": "sent"}).json()) == 1
    assert len(smtp.messages) == 1


def test_a_send_killed_during_smtp_data_is_never_sent_again(own_engine):
    with SmtpListener(hold="DATA") as smtp:
        own_engine.start()
        account = own_engine.new_account(**smtp.account_fields())
        body = {"to": [{"email": "ann@x.com"}], "subject": "Killed during DATA"}
        key = {"Idempotency-Key": "killed-during-data"}
        first = _send_in_background(own_engine, account["id"], body, key)
        assert smtp.held.wait(30)  # the message is with the server; its "250" is held
        _kill_and_restart(own_engine)
        first.join(30)
        smtp.release.set()
        [received] = smtp.messages
        with own_engine.client(account["id"]) as client:
            retry = _retry_until_the_lease_ends(client, body, key)
            assert retry.status_code == 409, retry.text
            error = retry.json()
            assert error["message_id"] == received.message["Message-Id"]
            assert "will not be sent again under this key" in error["message"]
            again = client.post("/send", json=body, headers=key)
            assert again.json() == error and again.headers["idempotent-replayed"] == "true"
    assert len(smtp.messages) == 1


# --------------------------------------------------------------------------- token mode


def test_issued_tokens_and_client_secrets_are_principals_however_spelled(tmp_path, new_database):
    with SmtpListener() as smtp, Engine(tmp_path / "e", auth="token", db_url=new_database()) as eng:
        account = eng.new_account(**smtp.account_fields())
        from nylas_engine.store.auth import create_app, issue_token
        from nylas_engine.store.models import Account

        with eng.db.session() as session:
            owner = session.scalar(select(Account).where(Account.public_id == account["id"]))
            app, secret = create_app(session, "Keys", [])
            other_app, _ = create_app(session, "Other", [])
            token, same_app_token = (
                issue_token(session, owner, app),
                issue_token(session, owner, app),
            )
            other_app_token = issue_token(session, owner, other_app)
            client_id = app.client_id

        body = {"to": [{"email": "ann@x.com"}], "subject": "Token spellings"}
        key = {"Idempotency-Key": "token-spellings"}

        def send(authorization: str) -> httpx.Response:
            headers = {**key, "Authorization": authorization}
            return httpx.post(eng.url + "/send", json=body, headers=headers)

        replies = [
            send(f"Bearer {token}"),
            send(f"bearer {token}"),
            send(f"Basic {_b64(token + ':')}"),
            send(f"Bearer {same_app_token}"),  # the same app and account: the same principal
        ]
        assert [r.status_code for r in replies] == [200] * 4
        assert all(r.json() == replies[0].json() for r in replies)
        assert len(smtp.messages) == 1
        assert send(f"Bearer {account['id']}").status_code == 401  # no token in token mode
        assert send(f"Bearer {other_app_token}").status_code == 200  # another app's keys
        assert len(smtp.messages) == 2

        # A client secret, however presented; a wrong one never sees the real reply.
        path = f"{eng.url}/a/{client_id}"
        change = {"application_name": "Renamed"}
        app_key = {"Idempotency-Key": "app-secret-1"}
        first = httpx.put(path, json=change, headers=app_key, auth=(secret, ""))
        again = httpx.put(path, json=change, headers=app_key, auth=(client_id, secret))
        assert first.status_code == again.status_code == 200
        assert again.headers["idempotent-replayed"] == "true"
        wrong = httpx.put(path, json=change, headers=app_key, auth=("not-the-secret", ""))
        assert wrong.status_code == 401 and "idempotent-replayed" not in wrong.headers
