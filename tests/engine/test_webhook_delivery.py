"""Webhook delivery: a real receiver (an HTTP server in this process) gets the challenge and
then signed notifications from a live engine (docs/protocol.md §16.4), checked with the SDK's
`verify_webhook_signature`. The engine retries quickly here (NYLAS_ENGINE_WEBHOOK_RETRY)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import create_engine, text

import nylas
from nylas import APIClient
from nylas.testing import LocalEngine

ENV = {
    "NYLAS_ENGINE_WEBHOOK_POLL": "0.1",
    "NYLAS_ENGINE_WEBHOOK_RETRY": "0.2",
    "NYLAS_ENGINE_WEBHOOK_TIMEOUT": "60",  # longer than any receiver here holds an answer
}
WAIT = 30.0
HOLD = 20.0  # a held answer is let go after this at the latest


class Receiver:
    """An app's callback URL. It echoes challenges unless told not to, answers POSTs with
    the statuses queued in `statuses` (then 200), and keeps every request it got."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.echo_challenge = True
        self.statuses: list[int] = []
        self.hold: threading.Event | None = None  # set: POSTs wait for it before answering
        self.holding = 0  # POSTs waiting right now
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                challenge = parse_qs(urlsplit(self.path).query).get("challenge", [""])[0]
                with receiver.lock:
                    receiver.requests.append({"method": "GET", "challenge": challenge})
                    echo = receiver.echo_challenge
                self._answer(200, challenge if echo else "no")

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if (hold := receiver.hold) is not None:
                    with receiver.lock:
                        receiver.holding += 1
                    hold.wait(HOLD)
                    with receiver.lock:
                        receiver.holding -= 1
                with receiver.lock:
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                    receiver.requests.append(
                        {
                            "method": "POST",
                            "body": body,
                            "signature": self.headers.get("X-Nylas-Signature", ""),
                            "content_type": self.headers.get("Content-Type", ""),
                            "status": status,
                        }
                    )
                self._answer(status, "ok")

            def _answer(self, status: int, text: str) -> None:
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def posts(self, *, accepted: bool = True) -> list[dict[str, Any]]:
        with self.lock:
            return [
                r
                for r in self.requests
                if r["method"] == "POST" and (not accepted or r["status"] == 200)
            ]

    def deltas(self) -> list[dict[str, Any]]:
        """Every delta of every notification the receiver accepted, in arrival order."""
        return [d for post in self.posts() for d in json.loads(post["body"])["deltas"]]

    def wait_for(self, found: Callable[[], Any], what: str) -> Any:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            if result := found():
                return result
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}; got {self.requests}")

    def wait_for_delta(self, trigger: str, object_id: str) -> dict[str, Any]:
        return self.wait_for(
            lambda: next(
                (
                    d
                    for d in self.deltas()
                    if d["type"] == trigger and d["object_data"]["id"] == object_id
                ),
                None,
            ),
            f"{trigger} of {object_id}",
        )

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def engine(
    tmp_path_factory: pytest.TempPathFactory, new_database: Callable[[], str | None]
) -> Iterator[LocalEngine]:
    # A database of its own: two engines delivering from one would each send everything.
    data_dir = tmp_path_factory.mktemp("webhooks")
    with LocalEngine(data_dir, auth="token", env=ENV, db_url=new_database()) as engine:
        yield engine


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.close()


class App:
    """An app with one linked account: its SDK client (client secret) and the account's."""

    def __init__(self, engine: LocalEngine, name: str = "Hooked") -> None:
        self.engine = engine
        created = engine.create_app(name)
        self.client_id, self.secret = created["client_id"], created["client_secret"]
        self.client = APIClient(self.client_id, self.secret, api_server=engine.url)
        self.account_id, self.user = self.link()

    def link(self) -> tuple[str, APIClient]:
        """A new account with a token issued by this app."""
        account = self.engine.add_account(f"hooked{time.monotonic_ns()}@example.com")
        issued = json.loads(
            self.engine.cli("tokens", "create", account["id"], "--app", self.client_id, "--json")
        )
        return account["id"], APIClient(None, None, issued["access_token"], self.engine.url)

    def hook(self, receiver: Receiver, *triggers: str) -> Any:
        webhook = self.client.webhooks.create(callback_url=receiver.url, triggers=list(triggers))
        webhook.save()
        return webhook


def new_contact(user: APIClient, name: str) -> str:
    contact = user.contacts.create()
    contact.given_name = name
    contact.save()
    return str(contact.id)


def test_notifications_are_signed_and_describe_the_change(
    engine: LocalEngine, receiver: Receiver, tmp_path: Path
) -> None:
    app = App(engine)
    app.hook(receiver, "contact.created", "message.created")
    receiver.wait_for(lambda: receiver.requests, "the challenge")
    assert receiver.requests[0]["method"] == "GET" and receiver.requests[0]["challenge"]

    contact_id = new_contact(app.user, "Ada")
    delta = receiver.wait_for_delta("contact.created", contact_id)
    assert delta["object"] == "contact"
    assert delta["object_data"]["account_id"] == app.account_id
    assert delta["object_data"]["namespace_id"] == app.account_id
    assert isinstance(delta["date"], int)

    mbox = tmp_path / "in.mbox"
    mbox.write_bytes(
        b"From someone@example.org Mon Jan  1 00:00:00 2024\n"
        b"From: Someone <someone@example.org>\nTo: me@example.com\nSubject: Hello hook\n"
        b"Date: Tue, 02 Jan 2024 10:00:00 +0000\nMessage-ID: <hook-1@example.org>\n\nBody\n"
    )
    engine.import_mail(app.account_id, mbox)
    message = app.user.messages.where(subject="Hello hook").first()
    delta = receiver.wait_for_delta("message.created", message.id)
    assert delta["object_data"]["attributes"] == {
        "thread_id": message.thread_id,
        "received_date": 1704189600,
    }

    for post in receiver.posts():
        assert post["content_type"] == "application/json"
        assert nylas.verify_webhook_signature(post["signature"], post["body"], app.secret)
        assert not nylas.verify_webhook_signature(post["signature"], post["body"], "wrong")


def test_only_the_chosen_triggers_of_the_apps_own_accounts(
    engine: LocalEngine, receiver: Receiver
) -> None:
    app, other = App(engine, "Mine"), App(engine, "Theirs")
    app.hook(receiver, "contact.updated")
    receiver.wait_for(lambda: receiver.requests, "the challenge")

    mine, theirs = new_contact(app.user, "Mine"), new_contact(other.user, "Theirs")
    for user, contact_id in ((other.user, theirs), (app.user, mine)):
        contact = user.contacts.get(contact_id)
        contact.surname = "Changed"
        contact.save()
    receiver.wait_for_delta("contact.updated", mine)
    # The other app's change was made first; had it been sent, it would be here by now.
    assert {d["type"] for d in receiver.deltas()} == {"contact.updated"}
    assert {d["object_data"]["account_id"] for d in receiver.deltas()} == {app.account_id}


def test_a_receiver_that_fails_loses_nothing(engine: LocalEngine, receiver: Receiver) -> None:
    app = App(engine)
    app.hook(receiver, "contact.created")
    receiver.wait_for(lambda: receiver.requests, "the challenge")
    receiver.statuses = [500, 503, 500]
    created = [new_contact(app.user, f"Grace {n}") for n in range(3)]
    receiver.wait_for(
        lambda: {d["object_data"]["id"] for d in receiver.deltas()} >= set(created),
        "all three contacts",
    )
    assert len(receiver.posts(accepted=False)) >= 4  # three refused, then taken
    delivered = [d["object_data"]["id"] for d in receiver.deltas()]
    assert sorted(delivered) == sorted(created)  # each once, once taken


def test_nothing_is_sent_before_the_challenge_is_echoed(
    engine: LocalEngine, receiver: Receiver
) -> None:
    receiver.echo_challenge = False
    app = App(engine)
    app.hook(receiver, "contact.created")
    contact_id = new_contact(app.user, "Early")
    receiver.wait_for(
        lambda: len([r for r in receiver.requests if r["method"] == "GET"]) >= 2,
        "a second challenge",
    )
    assert receiver.posts(accepted=False) == []
    receiver.echo_challenge = True
    receiver.wait_for_delta("contact.created", contact_id)  # made before: not lost


def test_an_inactive_webhook_is_silent_and_does_not_replay(engine: LocalEngine) -> None:
    app = App(engine)
    quiet, clock = Receiver(), Receiver()
    try:
        webhook = app.hook(quiet, "contact.created")
        app.hook(clock, "contact.created")  # made later: looked at after `quiet` each turn
        quiet.wait_for(lambda: quiet.requests, "the challenge")
        webhook.state = "inactive"
        webhook.save()
        while_off = new_contact(app.user, "While off")
        clock.wait_for_delta("contact.created", while_off)
        webhook.state = "active"
        webhook.save()
        back_on = new_contact(app.user, "Back on")
        quiet.wait_for_delta("contact.created", back_on)
        clock.wait_for_delta("contact.created", back_on)
        assert [d["object_data"]["id"] for d in quiet.deltas()] == [back_on]
    finally:
        quiet.close()
        clock.close()


def test_account_triggers(engine: LocalEngine, receiver: Receiver) -> None:
    app = App(engine)
    app.hook(receiver, "account.connected", "account.stopped", "account.running")
    receiver.wait_for(lambda: receiver.requests, "the challenge")
    admin = httpx.Client(base_url=engine.url, auth=(app.secret, ""), timeout=30)
    base = f"/a/{app.client_id}/accounts/{app.account_id}"
    assert admin.post(f"{base}/downgrade").status_code == 200
    receiver.wait_for_delta("account.stopped", app.account_id)
    assert admin.post(f"{base}/upgrade").status_code == 200
    receiver.wait_for_delta("account.running", app.account_id)

    linked_later, _user = app.link()
    receiver.wait_for_delta("account.connected", linked_later)
    # The account linked before the webhook existed was never announced as connected.
    connected = [d["object_data"]["id"] for d in receiver.deltas() if d["type"].endswith("ted")]
    assert connected == [linked_later]


def test_delivery_resumes_after_a_restart_without_repeats(
    tmp_path: Path, receiver: Receiver, new_database: Callable[[], str | None]
) -> None:
    db_url = new_database()
    with LocalEngine(tmp_path / "engine", auth="token", env=ENV, db_url=db_url) as engine:
        app = App(engine)
        app.hook(receiver, "contact.created")
        before = new_contact(app.user, "Before")
        receiver.wait_for_delta("contact.created", before)
        engine.stop()
        engine.start()
        after = new_contact(app.user, "After")
        receiver.wait_for_delta("contact.created", after)
        assert sorted(d["object_data"]["id"] for d in receiver.deltas()) == sorted([before, after])
        challenges = [r for r in receiver.requests if r["method"] == "GET"]
        assert len(challenges) == 1  # verified once, remembered across the restart


def test_an_account_unlinked_and_linked_again_starts_afresh(
    engine: LocalEngine, receiver: Receiver
) -> None:
    app = App(engine)
    app.hook(receiver, "account.connected", "contact.created")
    receiver.wait_for(lambda: receiver.requests, "the challenge")
    admin = httpx.Client(base_url=engine.url, auth=(app.secret, ""), timeout=30)
    assert admin.delete(f"/a/{app.client_id}/accounts/{app.account_id}").status_code == 200
    # Made while the app had no token for the account: not the app's business.
    unseen = new_contact(APIClient(None, None, _token(engine, app.account_id), engine.url), "Off")
    time.sleep(1.1)  # a link is placed in the log by its second: not the one `unseen` got
    user = APIClient(None, None, _token(engine, app.account_id, app.client_id), engine.url)
    receiver.wait_for_delta("account.connected", app.account_id)
    seen = new_contact(user, "Linked again")
    receiver.wait_for_delta("contact.created", seen)
    assert unseen not in {d["object_data"]["id"] for d in receiver.deltas()}


def _token(engine: LocalEngine, account_id: str, client_id: str | None = None) -> str:
    """A new token for the account: of that app, or of no app."""
    app = ["--app", client_id] if client_id else []
    issued = json.loads(engine.cli("tokens", "create", account_id, *app, "--json"))
    return str(issued["access_token"])


def test_an_app_from_before_webhook_delivery_is_signed_for_once_it_authenticates(
    engine: LocalEngine, receiver: Receiver
) -> None:
    app = App(engine)
    # A database from before: the app's secret was kept as a hash only.
    database = create_engine(engine.db_url or f"sqlite:///{engine.data_dir / 'engine.db'}")
    with database.begin() as conn:
        conn.execute(
            text("UPDATE apps SET sealed_secret = NULL WHERE client_id = :id"),
            {"id": app.client_id},
        )
    database.dispose()
    app.hook(receiver, "contact.created")  # authenticates with the secret
    contact_id = new_contact(app.user, "Signed")
    receiver.wait_for_delta("contact.created", contact_id)
    post = receiver.posts()[-1]
    assert nylas.verify_webhook_signature(post["signature"], post["body"], app.secret)


def test_an_app_hears_only_what_its_tokens_may_read(
    engine: LocalEngine, receiver: Receiver
) -> None:
    app = App(engine)
    account = engine.add_account(f"calendar-only{time.monotonic_ns()}@example.com")
    engine.cli("tokens", "create", account["id"], "--app", app.client_id, "--scopes", "calendar")
    app.hook(receiver, "contact.created", "calendar.created")
    receiver.wait_for(lambda: receiver.requests, "the challenge")
    owner = APIClient(None, None, _token(engine, account["id"]), engine.url)  # not the app's
    contact_id = new_contact(owner, "Private")
    calendar = owner.calendars.create()
    calendar.name = "Shared"
    calendar.save()
    receiver.wait_for_delta("calendar.created", calendar.id)
    # The contact came first: had it been sent, it would be here by now.
    assert [d["type"] for d in receiver.deltas()] == ["calendar.created"]
    assert contact_id not in {d["object_data"]["id"] for d in receiver.deltas()}


def test_a_slow_receiver_holds_up_only_its_own_notifications(engine: LocalEngine) -> None:
    app = App(engine)
    slow, fast = Receiver(), Receiver()
    slow.hold = threading.Event()
    try:
        app.hook(slow, "contact.created")  # the older webhook: it would be served first
        app.hook(fast, "contact.created")
        contact_id = new_contact(app.user, "Both")
        slow.wait_for(lambda: slow.holding, "the slow receiver to get its notification")
        fast.wait_for_delta("contact.created", contact_id)
        assert slow.holding == 1  # still sitting on its copy
        slow.hold.set()
        slow.wait_for_delta("contact.created", contact_id)
    finally:
        slow.hold.set()
        slow.close()
        fast.close()


@pytest.mark.anyio
async def test_the_async_client_manages_webhooks_too(
    engine: LocalEngine, receiver: Receiver
) -> None:
    from nylas import AsyncAPIClient

    app = App(engine)
    async with AsyncAPIClient(app.client_id, app.secret, api_server=engine.url) as client:
        webhook = client.webhooks.create(callback_url=receiver.url, triggers=["contact.created"])
        await webhook.save()
        assert [w.id async for w in client.webhooks] == [webhook.id]
    contact_id = new_contact(app.user, "Async")
    receiver.wait_for_delta("contact.created", contact_id)


def test_a_change_this_engine_commits_is_sent_without_waiting_for_the_poll(
    tmp_path: Path, new_database: Callable[[], str | None], receiver: Receiver
) -> None:
    """The engine looks for work at once when it commits a change: with its poll an hour
    apart, the challenge and the notification still come while the test waits."""
    env = {**ENV, "NYLAS_ENGINE_WEBHOOK_POLL": "3600"}
    with LocalEngine(tmp_path / "e", auth="token", env=env, db_url=new_database()) as engine:
        app = App(engine)
        app.hook(receiver, "contact.created")
        contact_id = new_contact(app.user, "Prompt")
        receiver.wait_for_delta("contact.created", contact_id)
        assert [r["method"] for r in receiver.requests] == ["GET", "POST"]


def test_a_stop_while_a_notification_is_being_answered_records_it(
    tmp_path: Path, receiver: Receiver, new_database: Callable[[], str | None]
) -> None:
    """The engine is stopped after the receiver got a notification and before it answered:
    the engine waits for the answer and records it, so the next start does not send it
    again (CI once saw a repeat when the stop came just after the receiver's answer)."""
    with LocalEngine(tmp_path / "engine", auth="token", env=ENV, db_url=new_database()) as engine:
        app = App(engine)
        app.hook(receiver, "contact.created")
        before = new_contact(app.user, "Before")
        receiver.wait_for_delta("contact.created", before)
        receiver.hold = threading.Event()
        during = new_contact(app.user, "During")
        receiver.wait_for(lambda: receiver.holding, "the notification of 'During'")
        stopping = threading.Thread(target=engine.stop)
        stopping.start()
        time.sleep(1.0)  # the engine is stopping meanwhile
        receiver.hold.set()
        stopping.join()
        receiver.hold = None
        engine.start()
        after = new_contact(app.user, "After")
        receiver.wait_for_delta("contact.created", after)
        ids = [d["object_data"]["id"] for d in receiver.deltas()]
        assert sorted(ids) == sorted([before, during, after])
