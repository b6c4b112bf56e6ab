"""The official old SDK (`nylas_legacy` 5.15) drives calendars, events, RSVP and contacts
against the live engine; every result is checked against what the engine serves over HTTP."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from legacy_sdk import legacy_client
from nylas_legacy import APIClient
from smtp_listener import SmtpListener
from sqlalchemy import select
from test_contacts import png
from test_events import T0, _set_smtp, add_invite

from nylas.testing import LocalEngine


@pytest.fixture
def smtp() -> Any:
    with SmtpListener() as listener:
        yield listener


@pytest.fixture
def legacy(engine: Any, account: dict[str, Any]) -> APIClient:
    return legacy_client(engine.url, account["id"])


def test_calendars(legacy, api):
    served = api.get("/calendars").json()
    calendars = list(legacy.calendars)
    assert [c.id for c in calendars] == [c["id"] for c in served]
    writable = next(c for c in legacy.calendars if not c.read_only)
    assert writable.is_primary is True
    assert writable.name == served[0]["name"]
    assert legacy.calendars.get(writable.id).description == served[0]["description"]

    created = legacy.calendars.create()
    created.name = "Book club"
    created.description = "Monthly"
    created.save()
    assert created.id is not None
    assert api.get(f"/calendars/{created.id}").json()["name"] == "Book club"
    assert [e.id for e in created.events] == []


def test_events_create_update_delete_as_in_the_readme(legacy, api, engine, account, smtp):
    _set_smtp(engine.db, account["id"], smtp)  # notify_participants emails invitations
    calendar = next(c for c in legacy.calendars if not c.read_only)
    ev = legacy.events.create()
    ev.title = "Party at the Ritz"
    ev.when = {"start_time": 1416423667, "end_time": 1416448867}
    ev.location = "The Old Ritz"
    ev.participants = [{"name": "My Friend", "email": "my.friend@example.com"}]
    ev.calendar_id = calendar.id
    ev.save(notify_participants="true")
    assert ev.id is not None
    stored = api.get(f"/events/{ev.id}").json()
    assert stored["title"] == "Party at the Ritz"
    assert stored["when"] == {
        "object": "timespan",
        "start_time": 1416423667,
        "end_time": 1416448867,
    }
    assert stored["participants"] == [
        {
            "name": "My Friend",
            "email": "my.friend@example.com",
            "status": "noreply",
            "comment": None,
        }
    ]
    assert ev.status == "confirmed" and ev.read_only is False

    ev.location = "The Waldorf-Astoria"
    ev.save()
    updated = api.get(f"/events/{ev.id}").json()
    assert updated == {**stored, "location": "The Waldorf-Astoria"}
    assert legacy.events.get(ev.id).location == "The Waldorf-Astoria"
    assert [e.id for e in legacy.events.where(location="Waldorf")] == [ev.id]

    legacy.events.delete(ev.id, notify_participants="true")
    assert api.get(f"/events/{ev.id}").json()["status"] == "cancelled"
    assert [m.rcpt_tos for m in smtp.messages] == [["my.friend@example.com"]] * 2
    assert list(legacy.events) == []
    assert [e.id for e in legacy.events.where(show_cancelled=True)] == [ev.id]


def test_expand_recurring(legacy, api):
    calendar_id = api.get("/calendars").json()[0]["id"]
    master = api.post(
        "/events",
        json={
            "calendar_id": calendar_id,
            "title": "Standup",
            "when": {"start_time": T0, "end_time": T0 + 900},
            "recurrence": {"rrule": ["RRULE:FREQ=DAILY;COUNT=5"], "timezone": "Europe/Paris"},
        },
    ).json()
    params = {"expand_recurring": True, "starts_before": T0 + 3 * 86400}
    instances = list(legacy.events.where(**params))
    served = api.get("/events", params={**params, "expand_recurring": "true"}).json()
    assert [e.id for e in instances] == [e["id"] for e in served]
    assert len(instances) == 3
    assert all(e.master_event_id == master["id"] and e.read_only for e in instances)
    assert instances[1].when["start_time"] == T0 + 86400
    assert [e.id for e in legacy.events.where(expand_recurring=False)] == [master["id"]]


def test_rsvp_from_the_sdk(tmp_path):
    """SDK 5 sends the RSVP without credentials: an engine with one account accepts it."""
    from nylas_engine.store.db import Database
    from nylas_engine.store.models import Account

    with SmtpListener() as smtp, LocalEngine(tmp_path / "solo") as solo:
        account = solo.add_account("solo@example.com")
        db = Database(f"sqlite:///{solo.data_dir / 'engine.db'}", run_migrations=False)
        with db.session() as session:
            owner = session.scalar(select(Account).where(Account.public_id == account["id"]))
            owner.smtp_host, owner.smtp_port = smtp.host, smtp.port
        invited = add_invite(db, account["id"], participants=[{"email": "solo@example.com"}])
        db.engine.dispose()

        client = legacy_client(solo.url, account["id"])
        event = client.events.get(invited)
        assert event.message_id is not None
        answered = event.rsvp("maybe", "Depends on trains")
        assert answered.participants[0]["status"] == "maybe"
        assert answered.participants[0]["comment"] == "Depends on trains"
        assert client.events.get(invited).participants == answered.participants
        assert len(smtp.messages) == 1
        assert smtp.messages[0].rcpt_tos == ["olga@example.org"]


def test_contacts_crud_and_picture(legacy, api):
    contact = legacy.contacts.create()
    contact.given_name = "Ada"
    contact.surname = "Lovelace"
    contact.birthday = date(1815, 12, 10)
    contact.emails["work"].append("ada@engines.example")
    contact.phone_numbers["mobile"].append("+44 20 7946 0018")
    contact.physical_addresses["home"].append(
        {"type": "home", "format": "structured", "city": "London", "country": "UK"}
    )
    contact.save()
    assert contact.id is not None
    stored = api.get(f"/contacts/{contact.id}").json()
    assert stored["given_name"] == "Ada" and stored["surname"] == "Lovelace"
    assert stored["birthday"] == "1815-12-10"
    assert stored["emails"] == [{"type": "work", "email": "ada@engines.example"}]
    assert stored["phone_numbers"] == [{"type": "mobile", "number": "+44 20 7946 0018"}]
    assert stored["physical_addresses"][0]["city"] == "London"

    contact.job_title = "Programmer"
    contact.emails["personal"].append("ada@home.example")
    contact.save()
    updated = api.get(f"/contacts/{contact.id}").json()
    assert updated["job_title"] == "Programmer"
    assert {e["email"] for e in updated["emails"]} == {"ada@engines.example", "ada@home.example"}
    assert updated["birthday"] == "1815-12-10"
    found = legacy.contacts.where(email="ada@home.example").first()
    assert found.id == contact.id

    assert legacy.contacts.get(contact.id).get_picture() is None  # no picture_url yet
    image = png()
    assert api.put(f"/contacts/{contact.id}/picture", content=image).status_code == 200
    picture = legacy.contacts.get(contact.id).get_picture()
    assert picture.read() == image

    legacy.contacts.delete(contact.id)
    assert api.get(f"/contacts/{contact.id}").status_code == 404
    assert list(legacy.contacts) == []
