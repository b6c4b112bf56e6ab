"""`nylas-engine demo` sends for real: its accounts' mail goes through a local mail sink.

A send is filed in the sender's Sent folder and a copy for the other demo account lands in
its inbox; an invitation (`notify_participants`) becomes an event there; `event.rsvp(...)` on
the invitation the demo ships answers its organizer, the other demo account. Mail to anyone
else is accepted and dropped. Once the demo has stopped, its accounts have no SMTP server
again, and a send says how to configure one. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

import nylas
from nylas import APIClient
from nylas.testing import LocalEngine, free_port


class Demo:
    def __init__(self, data_dir: Path, db_url: str | None) -> None:
        self.data_dir = data_dir
        self.db_url = db_url
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        command = [sys.executable, "-m", "nylas_engine", "--data-dir", str(data_dir)]
        if db_url:
            command += ["--db", db_url]
        self.log = data_dir / "demo.log"
        data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [*command, "demo", "--port", str(self.port), "--messages", "20"],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self._wait()
        with APIClient(None, None, None, self.url) as admin:
            self.ids = {a.email_address: a.id or "" for a in admin.accounts.all()}

    def _wait(self) -> None:
        for _ in range(600):
            if self.process.poll() is not None:
                raise RuntimeError(f"the demo exited:\n{self.log.read_text()}")
            try:
                httpx.get(self.url, timeout=1)
                return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError(f"the demo did not serve:\n{self.log.read_text()}")

    def client(self, email: str) -> APIClient:
        return APIClient(None, None, self.ids[email], self.url)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(30)


@pytest.fixture(scope="module")
def demo(
    tmp_path_factory: pytest.TempPathFactory, new_database: Callable[[], str | None]
) -> Iterator[Demo]:
    running = Demo(tmp_path_factory.mktemp("demo-sink"), new_database())
    try:
        yield running
    finally:
        running.stop()


ME = "demo@example.com"
FRIEND = "my.friend@example.com"


def subjects(client: APIClient, folder: str) -> list[str]:
    return [m.subject or "" for m in client.messages.where(in_=folder, limit=100)]


def test_a_send_is_in_sent_and_in_the_other_demo_accounts_inbox(demo: Demo) -> None:
    client, friend = demo.client(ME), demo.client(FRIEND)
    subject = f"Here's an attachment {uuid.uuid4().hex[:6]}"

    # Seed README 1.11, as written
    myfile = client.files.create()
    myfile.filename = "test.txt"
    myfile.data = "hello world"
    draft = client.drafts.create()
    draft.to = [{"name": "My Friend", "email": "my.friend@example.com"}]
    draft.subject = subject
    draft.body = "Cheers mate!"
    draft.attach(myfile)
    sent = draft.send()

    assert sent.subject == subject
    assert subject in subjects(client, "sent")
    [received] = [m for m in friend.messages.where(in_="inbox") if m.subject == subject]
    assert received.unread and received.from_[0]["email"] == ME
    assert [f["filename"] for f in received.files or []] == ["test.txt"]
    [file] = received.files or []
    assert friend.files.get(file["id"]).download() == b"hello world"


def test_mail_to_anyone_else_is_accepted_and_dropped(demo: Demo) -> None:
    client, friend = demo.client(ME), demo.client(FRIEND)
    before = friend.messages.count()
    subject = f"Outside {uuid.uuid4().hex[:6]}"
    draft = client.drafts.create(to=[{"email": "ben@nylas.com"}], subject=subject, body="Hi")
    assert draft.send().subject == subject
    assert subject in subjects(client, "sent")
    assert subject not in subjects(client, "inbox")
    assert friend.messages.count() == before


def test_each_demo_recipient_gets_a_copy_bcc_and_the_sender_too(demo: Demo) -> None:
    client, friend = demo.client(ME), demo.client(FRIEND)
    subject = f"To us both {uuid.uuid4().hex[:6]}"
    draft = client.drafts.create(
        to=[{"email": ME}, {"email": "ben@nylas.com"}], bcc=[{"email": FRIEND}], subject=subject
    )
    draft.send()
    assert subject in subjects(client, "inbox") and subject in subjects(client, "sent")
    [copy] = [m for m in friend.messages.where(in_="inbox") if m.subject == subject]
    assert copy.bcc == []  # Bcc is not in the message the recipients get


def test_an_invitation_arrives_as_an_event(demo: Demo) -> None:
    client, friend = demo.client(ME), demo.client(FRIEND)
    title = f"Party at the Ritz {uuid.uuid4().hex[:6]}"

    # Seed README 1.13, as written (but for Python 3's filter)
    calendar = next(cal for cal in client.calendars if not cal.read_only)
    ev = client.events.create()
    ev.title = title
    ev.when = {"start_time": 1416423667, "end_time": 1416448867}
    ev.location = "The Old Ritz"
    ev.participants = [{"name": "My Friend", "email": "my.friend@example.com"}]
    ev.calendar_id = calendar.id
    ev.save(notify_participants="true")

    assert f"Invitation: {title}" in subjects(friend, "inbox")
    [invited] = [e for e in friend.events.all() if e.title == title]
    assert invited.read_only and invited.location == "The Old Ritz"
    invited.rsvp("maybe", "Depends on the weather")
    assert f"Tentative: {title}" in subjects(client, "inbox")
    mine = client.events.find(ev.id or "")
    answer = next(p for p in mine.participants or [] if p["email"] == FRIEND)
    assert answer["status"] == "maybe"


def test_nylas_legacy_answers_an_invitation_without_credentials(demo: Demo) -> None:
    """SDK 5 posts its RSVP with no credentials; an open engine of several accounts (the
    demo's two) takes it as the account whose event it answers."""
    from legacy_sdk import legacy_client

    client = demo.client(ME)
    title = f"Standup {uuid.uuid4().hex[:6]}"
    calendar = next(cal for cal in client.calendars if not cal.read_only)
    ev = client.events.create(
        title=title, calendar_id=calendar.id, when={"time": 1416423667}, participants=[]
    )
    ev.participants = [{"name": "My Friend", "email": FRIEND}]
    ev.save(notify_participants="true")

    legacy = legacy_client(demo.url, demo.ids[FRIEND])
    [invited] = [e for e in legacy.events.all() if e.title == title]
    answered = invited.rsvp("no", "Away that day")
    assert [p["status"] for p in answered.participants if p["email"] == FRIEND] == ["no"]
    assert f"Declined: {title}" in subjects(client, "inbox")


def test_rsvp_to_the_invitation_the_demo_ships(demo: Demo) -> None:
    client, friend = demo.client(ME), demo.client(FRIEND)
    [ev] = [e for e in client.events.all() if e.title == "Dinner at Trattoria Vela"]
    assert ev.message_id and ev.read_only  # an emailed invitation, in the demo's inbox
    assert client.messages.find(ev.message_id).subject == "Invitation: Dinner at Trattoria Vela"

    ev.rsvp("yes", "See you there")

    me = next(p for p in ev.participants or [] if p["email"] == ME)
    assert (me["status"], me["comment"]) == ("yes", "See you there")
    assert "Accepted: Dinner at Trattoria Vela" in subjects(friend, "inbox")
    [own] = [e for e in friend.events.all() if e.title == "Dinner at Trattoria Vela"]
    assert not own.read_only  # the organizer's event records the answer
    assert next(p for p in own.participants or [] if p["email"] == ME)["status"] == "yes"


def test_once_the_demo_stops_a_send_says_how_to_configure_smtp(demo: Demo) -> None:
    """Last in this module: it stops the demo."""
    assert demo.stop() in (0, 128 + signal.SIGTERM)
    with LocalEngine(demo.data_dir, db_url=demo.db_url) as engine:
        client = APIClient(None, None, demo.ids[ME], engine.url)
        draft = client.drafts.create(to=[{"email": FRIEND}], subject="No sink", body="x")
        with pytest.raises(nylas.client.errors.InvalidRequestError) as failed:
            draft.send()
    assert failed.value.status_code == 400
    assert "no SMTP server configured" in failed.value.message
    assert "nylas-engine accounts add --email demo@example.com" in failed.value.message
