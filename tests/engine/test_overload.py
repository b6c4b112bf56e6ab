"""A crowd gets answers: every request is served or promptly told 503 + Retry-After, never a
500 or a hang (issue 10), on SQLite and PostgreSQL.

Each test starts an engine of its own: one with admission caps set very low through the
environment (api/admission.py), one with the defaults for a crowd of writers and readers.
A request "holds" the only slot by sending mail through an SMTP server that keeps it waiting
at DATA. A client slow to send its body holds no slot: the engine reads a body before it
admits the request.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from conftest import Engine
from smtp_listener import SmtpListener

LOW_CAPS = {
    "NYLAS_ENGINE_MAX_IN_FLIGHT": "1",
    "NYLAS_ENGINE_MAX_QUEUED": "1",
    "NYLAS_ENGINE_QUEUE_TIMEOUT": "1",
    "NYLAS_ENGINE_BODY_TIMEOUT": "2",
}


@pytest.fixture(scope="module")
def tight(
    tmp_path_factory: pytest.TempPathFactory, new_database: Callable[[], str | None]
) -> Iterator[Engine]:
    engine = Engine(tmp_path_factory.mktemp("tight"), db_url=new_database(), env=LOW_CAPS)
    engine.start()
    yield engine
    engine.close()


class SlowBody:
    """A POST /drafts whose body is sent only on `finish()`."""

    BODY = json.dumps({"subject": "held"}).encode()

    def __init__(self, engine: Engine, token: str, sent: bytes = b"") -> None:
        url = urlsplit(engine.url)
        self.sock = socket.create_connection((url.hostname, url.port), timeout=30)
        self.sock.sendall(
            b"POST /drafts HTTP/1.1\r\nHost: engine\r\nConnection: close\r\n"
            b"Authorization: Bearer " + token.encode() + b"\r\n"
            b"Content-Type: application/json\r\n"
            b"Content-Length: " + str(len(self.BODY)).encode() + b"\r\n\r\n" + sent
        )
        self.sent = len(sent)

    def reply(self) -> tuple[int, bytes]:
        reply = b""
        while chunk := self.sock.recv(65536):
            reply += chunk
        self.sock.close()
        return int(reply.split(b" ", 2)[1]), reply

    def finish(self) -> int:
        """Send the rest of the body; the reply's status."""
        self.sock.sendall(self.BODY[self.sent :])
        return self.reply()[0]


class HeldSend:
    """A POST /send kept waiting by its SMTP server at DATA: it holds a slot until
    `finish()`."""

    def __init__(self, engine: Engine) -> None:
        self.smtp = SmtpListener(hold="DATA").start()
        account = engine.new_account(**self.smtp.account_fields())
        self.api = engine.client(account["id"])
        self.pool = ThreadPoolExecutor(1)
        body = {"to": [{"email": "ann@example.org"}], "subject": "held", "body": "x"}
        self.pending = self.pool.submit(self.api.post, "/send", json=body)
        assert self.smtp.held.wait(30)

    def finish(self) -> int:
        self.smtp.release.set()
        status = self.pending.result(timeout=60).status_code
        self.pool.shutdown()
        self.api.close()
        self.smtp.stop()
        return status


def wait_for_slot_taken(api: httpx.Client) -> httpx.Response:
    """Requests until one is refused: then the held request has its slot (and the queue is
    free again, as the refused request waited its turn and gave up)."""
    for _ in range(50):
        reply = api.get("/account")
        if reply.status_code == 503:
            return reply
    raise AssertionError("the held request never took the slot")


def assert_busy(reply: httpx.Response) -> None:
    assert reply.status_code == 503
    assert int(reply.headers["Retry-After"]) >= 1
    body = reply.json()
    assert body["type"] == "api_error"
    assert "busy" in body["message"]


def test_past_the_queue_a_request_gets_503_with_retry_after(tight: Engine) -> None:
    account = tight.new_account()
    with tight.client(account["id"]) as api:
        held = HeldSend(tight)
        assert_busy(wait_for_slot_taken(api))
        assert held.finish() == 200
        # The slot is free again: the engine serves as before.
        assert api.get("/account").status_code == 200


def test_a_slow_body_holds_no_slot(tight: Engine) -> None:
    account = tight.new_account()
    with tight.client(account["id"]) as api:
        slow = [SlowBody(tight, account["id"], sent=b'{"subj') for _ in range(3)]
        # Three bodies still on their way, one slot: this is served at once all the same.
        assert api.get("/account").status_code == 200
        assert [s.finish() for s in slow] == [200, 200, 200]
        assert [d["subject"] for d in api.get("/drafts").json()] == ["held"] * 3


def test_a_body_that_stops_arriving_is_answered_408(tight: Engine) -> None:
    account = tight.new_account()
    stalled = SlowBody(tight, account["id"], sent=b'{"subj')
    status, reply = stalled.reply()  # the engine gives up after NYLAS_ENGINE_BODY_TIMEOUT
    assert status == 408
    assert b"stopped arriving" in reply
    with tight.client(account["id"]) as api:
        assert api.get("/drafts").json() == []


def test_long_polls_do_not_take_the_slots_of_short_requests(tight: Engine) -> None:
    account = tight.new_account()
    with tight.client(account["id"]) as api:
        cursor = api.post("/delta/latest_cursor").json()["cursor"]
        with ThreadPoolExecutor(3) as pool:
            polls = [
                pool.submit(api.get, "/delta/longpoll", params={"cursor": cursor, "timeout": 5})
                for _ in range(3)
            ]
            # Three long polls are waiting; the one short slot is still there for this.
            assert api.post("/drafts", json={"subject": "while polling"}).status_code == 200
            replies = [p.result() for p in polls]
        assert [r.status_code for r in replies] == [200, 200, 200]
        # The draft shows up in at least the polls that had not returned yet; all answered.
        assert all("deltas" in r.json() for r in replies)


def test_a_long_poll_is_answered_while_every_short_slot_is_taken(tight: Engine) -> None:
    account = tight.new_account()
    with tight.client(account["id"]) as api:
        cursor = api.post("/delta/latest_cursor").json()["cursor"]
        held = HeldSend(tight)
        wait_for_slot_taken(api)
        reply = api.get("/delta/longpoll", params={"cursor": cursor, "timeout": 0})
        assert reply.status_code == 200
        assert held.finish() == 200


def test_a_crowd_on_tiny_caps_gets_200_or_503_never_500(tight: Engine) -> None:
    account = tight.new_account()

    def one(n: int) -> httpx.Response:
        with tight.client(account["id"]) as api:
            if n % 3 == 0:
                return api.post("/drafts", json={"subject": f"crowd {n}"})
            return api.get("/messages" if n % 3 == 1 else "/account")

    with ThreadPoolExecutor(40) as pool:
        replies = list(pool.map(one, range(80)))
    statuses = {r.status_code for r in replies}
    assert statuses <= {200, 503}, statuses
    for reply in replies:
        if reply.status_code == 503:
            assert_busy(reply)
    # Every draft the crowd was told about is there.
    created = {r.json()["id"] for r in replies if r.request.method == "POST" and r.is_success}
    with tight.client(account["id"]) as api:
        assert created <= {d["id"] for d in api.get("/drafts", params={"limit": 100}).json()}


# ---------------------------------------------------------------------- a crowd on defaults


@pytest.fixture(scope="module")
def roomy(
    tmp_path_factory: pytest.TempPathFactory, new_database: Callable[[], str | None]
) -> Iterator[Engine]:
    engine = Engine(tmp_path_factory.mktemp("roomy"), db_url=new_database())
    engine.start()
    yield engine
    engine.close()


def test_sixty_writers_and_readers_at_once_all_succeed(roomy: Engine) -> None:
    """What deadlocked before issue 10 (30 s timeouts, 500s): every request answered 200,
    every acknowledged write there afterwards, every acknowledged send delivered once."""
    with SmtpListener() as smtp:
        accounts = [roomy.new_account(**smtp.account_fields()) for _ in range(3)]
        start = threading.Barrier(60)

        def client(n: int) -> list[tuple[str, Any]]:
            token = accounts[n % 3]["id"]
            done: list[tuple[str, Any]] = []
            with roomy.client(token) as api:
                start.wait()
                draft = api.post("/drafts", json={"subject": f"draft {n}"})
                done.append(("create", draft))
                if draft.status_code == 200:
                    body = {"subject": f"final {n}", "version": draft.json()["version"]}
                    done.append(("update", api.put(f"/drafts/{draft.json()['id']}", json=body)))
                done.append(("list", api.get("/threads")))
                done.append(("search", api.get("/messages/search", params={"q": "draft"})))
                if n % 4 == 0:
                    mail = {"to": [{"email": "friend@example.org"}], "subject": f"mail {n}"}
                    done.append(("send", api.post("/send", json=mail)))
                done.append(("get", api.get(f"/drafts/{draft.json()['id']}")))
            return [(token, item) for item in done]

        with ThreadPoolExecutor(60) as pool:
            results = [item for items in pool.map(client, range(60)) for item in items]
        statuses = [(kind, reply.status_code) for _token, (kind, reply) in results]
        assert all(status == 200 for _kind, status in statuses), statuses
        finals = {
            reply.json()["id"]: (token, reply.json()["subject"])
            for token, (kind, reply) in results
            if kind == "update"
        }
        assert len(finals) == 60
        for draft_id, (token, subject) in finals.items():
            with roomy.client(token) as api:
                assert api.get(f"/drafts/{draft_id}").json()["subject"] == subject
        sends = sum(1 for _token, (kind, _reply) in results if kind == "send")
        assert len(smtp.messages) == sends == 15
