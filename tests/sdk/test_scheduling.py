"""The SDK's free-busy, availability, outbox, job statuses, room resources and
`event.generate_ics()` against a real engine (with a real SMTP listener for the outbox)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import Engine
from icalendar import Calendar as ICalendar
from smtp_listener import SmtpListener
from test_outbox import wait_for

from nylas import APIClient, AsyncAPIClient
from nylas.client.errors import InvalidRequestError, NotFoundError

HOUR = 3600
# A Monday, 2030-01-07 00:00 UTC: far from now, so nothing else is booked then.
DAY = 1894060800


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory, new_database: Any) -> Iterator[Engine]:
    # A database of its own: its outbox scheduler sends only these jobs, its rooms are ours.
    env = {"NYLAS_ENGINE_OUTBOX_POLL": "0.2", "NYLAS_ENGINE_OUTBOX_RETRY": "0.5"}
    eng = Engine(tmp_path_factory.mktemp("scheduling"), db_url=new_database(), env=env)
    eng.start()
    yield eng
    eng.close()


@pytest.fixture
def smtp() -> Iterator[SmtpListener]:
    with SmtpListener() as listener:
        yield listener


@pytest.fixture
def client(engine: Engine, smtp: SmtpListener) -> Iterator[APIClient]:
    account = engine.new_account(**smtp.account_fields())
    with APIClient(None, None, account["id"], engine.url) as c:
        yield c


def _busy_meeting(client: APIClient) -> str:
    calendar = next(c for c in client.calendars.all() if not c.read_only)
    event = client.events.create(
        calendar_id=calendar.id,
        title="Planning",
        when={"start_time": DAY + 10 * HOUR, "end_time": DAY + 11 * HOUR},
    )
    event.save()
    email: str = client.account.email_address
    return email


def test_free_busy_lists_the_accounts_busy_time(client: APIClient) -> None:
    email = _busy_meeting(client)
    answer = client.free_busy([email], DAY, DAY + 24 * HOUR)
    assert len(answer) == 1 and answer[0]["email"] == email
    slots = [(s["start_time"], s["end_time"]) for s in answer[0]["time_slots"]]
    assert slots == [(DAY + 10 * HOUR, DAY + 11 * HOUR)]


def test_availability_leaves_out_the_busy_hour(client: APIClient) -> None:
    email = _busy_meeting(client)
    found = client.availability([email], 60, 60, DAY + 8 * HOUR, DAY + 13 * HOUR)
    starts = [slot["start_time"] for slot in found["time_slots"]]
    assert starts == [DAY + 8 * HOUR, DAY + 9 * HOUR, DAY + 11 * HOUR, DAY + 12 * HOUR]
    # Someone the engine doesn't hold, busy at 8: their times as the caller got them.
    other = {"email": "ext@example.org", "object": "free_busy", "time_slots": []}
    other["time_slots"] = [{"start_time": DAY + 8 * HOUR, "end_time": DAY + 9 * HOUR}]
    both = client.availability(
        [email, "ext@example.org"], 60, 60, DAY + 8 * HOUR, DAY + 13 * HOUR, free_busy=[other]
    )
    assert [s["start_time"] for s in both["time_slots"]] == [
        DAY + 9 * HOUR,
        DAY + 11 * HOUR,
        DAY + 12 * HOUR,
    ]


def test_consecutive_availability_books_meetings_back_to_back(client: APIClient) -> None:
    email = _busy_meeting(client)
    options = client.consecutive_availability(
        [[email], [email]], 30, 30, DAY + 9 * HOUR, DAY + 12 * HOUR
    )
    assert options, "expected at least one pair of consecutive meetings"
    for option in options:
        assert len(option) == 2
        assert option[0]["end_time"] == option[1]["start_time"]
        for meeting in option:  # none overlaps the busy hour
            assert (
                meeting["end_time"] <= DAY + 10 * HOUR or meeting["start_time"] >= DAY + 11 * HOUR
            )


def test_availability_bad_input_is_a_typed_error(client: APIClient) -> None:
    with pytest.raises(InvalidRequestError, match="duration_minutes"):
        client.availability(["a@example.org"], 0, 30, DAY, DAY + HOUR)
    with pytest.raises(InvalidRequestError):
        client.free_busy([], DAY, DAY + HOUR)


def test_the_outbox_sends_at_the_time_and_its_job_status_says_so(
    client: APIClient, smtp: SmtpListener
) -> None:
    draft = client.drafts.create(
        subject="Later", body="Hello later", to=[{"email": "ann@example.org"}]
    )
    send_at = int(time.time()) + 8  # room to change it first on a loaded machine
    job = client.outbox.send(draft, send_at, retry_limit_datetime=send_at + 60)
    assert job.job_status_id and job.status == "pending" and job.send_at == send_at
    assert [j.job_status_id for j in client.outbox.all()] == [job.job_status_id]
    job.update(subject="Later, changed")
    assert job.original_data is not None and job.original_data["subject"] == "Later, changed"

    status = wait_for(
        lambda: (s := client.job_statuses.find(job.job_status_id)).status != "pending" and s,
        "the job to finish",
    )
    assert status.is_successful and status.action == "outbox"
    assert [m.message["Subject"] for m in smtp.messages] == ["Later, changed"]
    assert status.message_id and client.messages.find(status.message_id).subject == (
        "Later, changed"
    )


def test_a_cancelled_outbox_job_is_never_sent(client: APIClient, smtp: SmtpListener) -> None:
    send_at = int(time.time()) + 8  # room to cancel it first on a loaded machine
    job = client.outbox.send(
        {"subject": "Never", "body": "x", "to": [{"email": "ann@example.org"}]}, send_at
    )
    assert job.cancel().status == "cancelled"
    time.sleep(max(0.0, send_at + 1.5 - time.time()))  # past its time: still not sent
    assert client.job_statuses.find(job.job_status_id).status == "cancelled"
    assert smtp.messages == []
    with pytest.raises(NotFoundError):
        client.outbox.find("notajobid")


def test_room_resources_are_the_operators_rooms(engine: Engine, client: APIClient) -> None:
    engine.cli("resources", "add", "board@example.org", "--name", "Board Room", "--capacity", "12")
    rooms = client.room_resources.all()
    board = next(r for r in rooms if r.email == "board@example.org")
    assert (board.name, board.capacity, board.object) == ("Board Room", "12", "room_resource")


def test_generate_ics_for_saved_and_unsaved_events(client: APIClient) -> None:
    calendar = next(c for c in client.calendars.all() if not c.read_only)
    event = client.events.create(
        calendar_id=calendar.id,
        title="Launch",
        when={"start_time": DAY + 15 * HOUR, "end_time": DAY + 16 * HOUR},
        participants=[{"email": "ann@example.org"}],
    )
    unsaved = ICalendar.from_ical(event.generate_ics(method="publish"))
    assert str(unsaved["method"]) == "PUBLISH"
    assert str(unsaved.walk("vevent")[0]["summary"]) == "Launch"
    event.save()
    saved = ICalendar.from_ical(event.generate_ics(ical_uid="launch-1@example.org"))
    vevent = saved.walk("vevent")[0]
    assert str(vevent["uid"]) == "launch-1@example.org"
    assert vevent.decoded("dtstart").timestamp() == DAY + 15 * HOUR
    with pytest.raises(InvalidRequestError, match="method"):
        event.generate_ics(method="shout")


@pytest.mark.anyio
async def test_the_async_client_has_them_too(engine: Engine, smtp: SmtpListener) -> None:
    account = engine.new_account(**smtp.account_fields())
    async with AsyncAPIClient(None, None, account["id"], engine.url) as client:
        answer = await client.free_busy([account["email_address"]], DAY, DAY + HOUR)
        assert answer[0]["time_slots"] == []
        job = await client.outbox.send(
            {"subject": "Async", "body": "x", "to": [{"email": "ann@example.org"}]},
            int(time.time()) + 60,
        )
        assert [j.job_status_id async for j in client.outbox] == [job.job_status_id]
        assert (await job.cancel()).status == "cancelled"
