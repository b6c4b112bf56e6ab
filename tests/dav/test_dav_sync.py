"""Two-way sync of calendars and contacts with a real CalDAV/CardDAV server (Radicale).

The user's phone is a second, independent client (python `caldav`, raw WebDAV for the
address book). Each check polls the API or the server until the change shows up, as a
user watching either side would; the engine polls every second here.
"""

from __future__ import annotations

import base64
from datetime import datetime
from zoneinfo import ZoneInfo

from dav_helpers import (
    Phone,
    add_dav_account,
    calendar_named,
    events_by_title,
    eventually,
)

PARIS = ZoneInfo("Europe/Paris")


def _ts(*parts: int) -> int:
    return int(datetime(*parts, tzinfo=PARIS).timestamp())


def _ics(uid: str, body: str) -> str:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//phone//EN\r\n"
        f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\n{body}END:VEVENT\r\n"
        "END:VCALENDAR\r\n"
    )


def test_initial_sync_then_the_phones_changes_reach_the_api(radicale, dav_engine):
    user, password = radicale.add_user()
    phone = Phone(radicale, user, password)
    personal = phone.make_calendar("Personal")
    personal.save_event(
        _ics(
            "dentist-1",
            "DTSTART;TZID=Europe/Paris:20270310T093000\r\n"
            "DTEND;TZID=Europe/Paris:20270310T103000\r\nSUMMARY:Dentist\r\nLOCATION:Rue X\r\n",
        )
    )
    personal.save_event(
        _ics(
            "weekend-1",
            "DTSTART;VALUE=DATE:20270312\r\nDTEND;VALUE=DATE:20270314\r\nSUMMARY:Long weekend\r\n",
        )
    )
    account = add_dav_account(dav_engine, radicale, user, password)

    with dav_engine.client(account["id"]) as api:
        calendar = eventually(lambda: calendar_named(api, "Personal"), "the calendar listed")
        assert calendar["read_only"] is False
        events = eventually(
            lambda: (e := events_by_title(api, calendar["id"])) and len(e) == 2 and e,
            "the initial sync of both events",
        )
        dentist = events["Dentist"]
        assert dentist["location"] == "Rue X"
        assert dentist["when"]["start_time"] == _ts(2027, 3, 10, 9, 30)
        assert dentist["when"]["end_time"] == _ts(2027, 3, 10, 9, 30) + 3600
        assert dentist["when"]["start_timezone"] == "Europe/Paris"
        weekend = events["Long weekend"]["when"]
        assert (weekend["start_date"], weekend["end_date"]) == ("2027-03-12", "2027-03-13")
        cursor = api.post("/delta/latest_cursor").json()["cursor"]

        # The phone adds an event, changes one and deletes the other.
        personal.save_event(
            _ics(
                "added-1",
                "DTSTART:20270311T080000Z\r\nDTEND:20270311T100000Z\r\n"
                "SUMMARY:Added on the phone\r\n",
            )
        )
        found = phone.events_by_title(personal)
        vevent = found["Dentist"].icalendar_instance.walk("VEVENT")[0]
        vevent["SUMMARY"] = "Dentist (moved)"
        found["Dentist"].save()
        found["Long weekend"].delete()

        titles = eventually(
            lambda: (
                (t := set(events_by_title(api, calendar["id"])))
                == {"Added on the phone", "Dentist (moved)"}
                and t
            ),
            "the phone's three changes in the API",
        )
        assert titles
        deltas = api.get("/delta", params={"cursor": cursor}).json()["deltas"]
        events_now = events_by_title(api, calendar["id"])
        changed = {d["id"] for d in deltas if d["object"] == "event"}
        assert events_now["Added on the phone"]["id"] in changed
        assert dentist["id"] in changed
        removed = [d for d in deltas if d["object"] == "event" and d["event"] == "delete"]
        assert events["Long weekend"]["id"] in {d["id"] for d in removed}


def _etag(phone: Phone, url: str) -> str | None:
    reply = phone.http.get(url)
    return reply.headers.get("ETag") if reply.status_code == 200 else None


def test_api_creates_updates_and_deletes_reach_the_phone(radicale, dav_engine):
    user, password = radicale.add_user()
    phone = Phone(radicale, user, password)
    personal = phone.make_calendar("Work")
    account = add_dav_account(dav_engine, radicale, user, password)

    with dav_engine.client(account["id"]) as api:
        calendar = eventually(lambda: calendar_named(api, "Work"), "the calendar listed")
        created = api.post(
            "/events",
            json={
                "calendar_id": calendar["id"],
                "title": "Planning",
                "location": "Room 4",
                "when": {
                    "start_time": _ts(2027, 4, 1, 14, 0),
                    "end_time": _ts(2027, 4, 1, 15, 0),
                    "start_timezone": "Europe/Paris",
                    "end_timezone": "Europe/Paris",
                },
                "participants": [{"email": "ann@example.com", "name": "Ann"}],
            },
        )
        assert created.status_code == 200, created.text
        on_phone = eventually(
            lambda: phone.events_by_title(personal).get("Planning"), "the API's event on the phone"
        )
        url = str(on_phone.url)
        vevent = on_phone.icalendar_instance.walk("VEVENT")[0]
        assert str(vevent["LOCATION"]) == "Room 4"
        assert vevent.decoded("DTSTART") == datetime(2027, 4, 1, 14, 0, tzinfo=PARIS)
        assert vevent["DTSTART"].params.get("TZID") == "Europe/Paris"
        assert any("ann@example.com" in str(a) for a in [vevent["ATTENDEE"]])
        first_etag = _etag(phone, url)

        changed = api.put(f"/events/{created.json()['id']}", json={"title": "Planning v2"})
        assert changed.status_code == 200, changed.text
        eventually(lambda: _etag(phone, url) != first_etag, "a new version on the server")
        updated = phone.events_by_title(personal)["Planning v2"]
        assert str(updated.icalendar_instance.walk("VEVENT")[0]["LOCATION"]) == "Room 4"

        assert api.delete(f"/events/{created.json()['id']}").status_code == 200
        eventually(lambda: _etag(phone, url) is None, "the event gone from the server")
        assert phone.events_by_title(personal) == {}


# A 1x1 PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def _card(uid: str) -> str:
    photo = base64.b64encode(PNG).decode()
    return (
        "BEGIN:VCARD\r\nVERSION:3.0\r\n"
        f"UID:{uid}\r\nN:Lovelace;Ada;;;\r\nFN:Ada Lovelace\r\n"
        "EMAIL;TYPE=WORK:ada@work.example\r\nEMAIL;TYPE=HOME:ada@home.example\r\n"
        "TEL;TYPE=CELL:+44 20 7946 0000\r\nORG:Analytical Engines\r\n"
        f"PHOTO;ENCODING=b;TYPE=PNG:{photo}\r\n"
        "X-PHONE-ONLY:kept as it was\r\nEND:VCARD\r\n"
    )


def test_a_contact_with_photo_and_typed_emails_round_trips(radicale, dav_engine):
    user, password = radicale.add_user()
    phone = Phone(radicale, user, password)
    phone.make_address_book()
    url = phone.put_card(_card("ada-1"), "ada.vcf")
    account = add_dav_account(dav_engine, radicale, user, password)

    with dav_engine.client(account["id"]) as api:
        ada = eventually(
            lambda: next(
                (c for c in api.get("/contacts").json() if c["surname"] == "Lovelace"), None
            ),
            "the phone's contact in the API",
        )
        assert ada["given_name"] == "Ada"
        assert ada["company_name"] == "Analytical Engines"
        emails = {(e["type"], e["email"]) for e in ada["emails"]}
        assert emails == {("work", "ada@work.example"), ("home", "ada@home.example")}
        assert ada["phone_numbers"] == [{"type": "cell", "number": "+44 20 7946 0000"}]
        picture = api.get(f"/contacts/{ada['id']}/picture")
        assert picture.content == PNG and picture.headers["content-type"] == "image/png"

        # An API update changes what it names and leaves the rest of the card alone.
        before = phone.http.get(url).headers["ETag"]
        assert api.put(f"/contacts/{ada['id']}", json={"job_title": "Analyst"}).status_code == 200
        eventually(lambda: phone.http.get(url).headers["ETag"] != before, "the card updated")
        card = phone.http.get(url).text.replace("\r\n ", "")
        assert "TITLE:Analyst" in card
        assert "X-PHONE-ONLY:kept as it was" in card
        assert "ada@work.example" in card and "ada@home.example" in card
        assert base64.b64encode(PNG).decode() in card

        # A contact made through the API lands in the address book.
        made = api.post(
            "/contacts",
            json={
                "given_name": "Grace",
                "emails": [{"type": "work", "email": "grace@navy.example"}],
            },
        )
        assert made.status_code == 200, made.text
        eventually(
            lambda: any("grace@navy.example" in c for c in phone.cards().values()),
            "the API's contact on the phone",
        )
        assert api.delete(f"/contacts/{made.json()['id']}").status_code == 200
        eventually(
            lambda: not any("grace@navy.example" in c for c in phone.cards().values()),
            "the API's deletion on the phone",
        )
        # And one deleted on the phone leaves the API.
        assert phone.http.delete(url).status_code in (200, 204)
        eventually(
            lambda: api.get(f"/contacts/{ada['id']}").status_code == 404, "the deletion in the API"
        )


SERIES = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//phone//EN\r\n"
    "BEGIN:VEVENT\r\nUID:standup-1\r\nDTSTAMP:20260101T000000Z\r\n"
    "DTSTART;TZID=Europe/Paris:20270301T090000\r\nDTEND;TZID=Europe/Paris:20270301T091500\r\n"
    "RRULE:FREQ=WEEKLY;COUNT=5\r\nEXDATE;TZID=Europe/Paris:20270315T090000\r\n"
    "SUMMARY:Standup\r\nEND:VEVENT\r\n"
    "BEGIN:VEVENT\r\nUID:standup-1\r\nDTSTAMP:20260101T000000Z\r\n"
    "RECURRENCE-ID;TZID=Europe/Paris:20270308T090000\r\n"
    "DTSTART;TZID=Europe/Paris:20270308T110000\r\nDTEND;TZID=Europe/Paris:20270308T111500\r\n"
    "SUMMARY:Standup (late)\r\nEND:VEVENT\r\n"
    "END:VCALENDAR\r\n"
)


def test_a_recurring_series_with_changed_and_cancelled_occurrences_both_ways(radicale, dav_engine):
    user, password = radicale.add_user()
    phone = Phone(radicale, user, password)
    personal = phone.make_calendar("Team")
    personal.save_event(SERIES)
    account = add_dav_account(dav_engine, radicale, user, password)

    with dav_engine.client(account["id"]) as api:
        calendar = eventually(lambda: calendar_named(api, "Team"), "the calendar listed")
        eventually(lambda: events_by_title(api, calendar["id"]), "the series synced")
        params = {
            "calendar_id": calendar["id"],
            "expand_recurring": "true",
            "starts_after": _ts(2027, 2, 1, 0, 0),
            "ends_before": _ts(2027, 5, 1, 0, 0),
        }
        instances = api.get("/events", params=params).json()
        starts = sorted((e["when"]["start_time"], e["title"]) for e in instances)
        assert starts == [
            (_ts(2027, 3, 1, 9, 0), "Standup"),
            (_ts(2027, 3, 8, 11, 0), "Standup (late)"),  # changed
            # 15 March cancelled (EXDATE)
            (_ts(2027, 3, 22, 9, 0), "Standup"),
            (_ts(2027, 3, 29, 9, 0), "Standup"),
        ]

        # A series made through the API, with a cancelled occurrence, on the phone.
        made = api.post(
            "/events",
            json={
                "calendar_id": calendar["id"],
                "title": "Gym",
                "when": {"start_time": _ts(2027, 6, 1, 7, 0), "end_time": _ts(2027, 6, 1, 8, 0)},
                "recurrence": {
                    "rrule": ["RRULE:FREQ=DAILY;COUNT=4", "EXDATE:20270602T070000"],
                    "timezone": "Europe/Paris",
                },
            },
        )
        assert made.status_code == 200, made.text
        gym = eventually(
            lambda: phone.events_by_title(personal).get("Gym"), "the series on the phone"
        )
        vevent = gym.icalendar_instance.walk("VEVENT")[0]
        assert vevent["RRULE"].to_ical() == b"FREQ=DAILY;COUNT=4"
        on_phone = personal.search(
            start=datetime(2027, 5, 30, tzinfo=PARIS), end=datetime(2027, 6, 10, tzinfo=PARIS),
            event=True, expand=True,
        )  # fmt: skip
        days = sorted(
            e.icalendar_instance.walk("VEVENT")[0].decoded("DTSTART").astimezone(PARIS).day
            for e in on_phone
            if "Gym" in e.data
        )
        assert days == [1, 3, 4]


def _sync_state(api) -> tuple[str, str | None]:
    account = api.get("/account").json()
    return account["sync_state"], account.get("sync_error")


def test_wrong_password_is_invalid(radicale, dav_engine):
    user, password = radicale.add_user()
    account = add_dav_account(dav_engine, radicale, user, "not-" + password)
    with dav_engine.client(account["id"]) as api:
        eventually(lambda: _sync_state(api)[0] == "invalid", "sync_state invalid")


def test_a_stopped_server_is_a_connection_error_until_it_is_back(tmp_path, dav_engine):
    from radicale_server import Radicale

    server = Radicale(tmp_path).start()
    try:
        user, password = server.add_user()
        Phone(server, user, password).make_calendar("Home")
        account = add_dav_account(dav_engine, server, user, password)
        with dav_engine.client(account["id"]) as api:
            eventually(lambda: calendar_named(api, "Home"), "the calendar listed")
            server.stop()
            eventually(lambda: _sync_state(api)[0] == "connerror", "sync_state connerror")
            server.start()
            eventually(lambda: _sync_state(api)[0] == "running", "running again")
    finally:
        server.stop()


def _own_engine(tmp_path_factory, poll: str, retry: str = "0.5"):
    from sync_engines import SyncEngine

    return SyncEngine(
        tmp_path_factory.mktemp("dav-own"),
        env={
            "NYLAS_ENGINE_DAV_POLL": poll,
            "NYLAS_ENGINE_SYNC_SCAN": "0.3",
            "NYLAS_ENGINE_SYNC_RETRY": retry,
        },
    ).start()


def _refused_logins(server, user: str) -> int:
    """How many of `user`'s logins Radicale has refused, from its log."""
    log = (server.root / "radicale.log").read_text(errors="replace")
    return sum(1 for line in log.splitlines() if "Failed login" in line and repr(user) in line)


def test_one_refused_login_is_asked_again_before_the_account_is_invalid(radicale, tmp_path_factory):
    """A single 401 (the server's password file being rewritten, its authentication backend
    overloaded) is asked again after the retry delay: the account stays `running` when the
    next request is let in, and changes keep arriving."""
    user, password = radicale.add_user()
    phone = Phone(radicale, user, password)
    phone.make_calendar("Home")
    engine = _own_engine(tmp_path_factory, poll="1", retry="5")  # 5 s to make the server agree
    try:
        account = add_dav_account(engine, radicale, user, password)
        with engine.client(account["id"]) as api:
            eventually(lambda: calendar_named(api, "Home"), "the calendar listed")
            refused = _refused_logins(radicale, user)
            radicale.add_user(user, "not-" + password)  # the server says no ...
            eventually(lambda: _refused_logins(radicale, user) > refused, "a refused request")
            radicale.add_user(user, password)  # ... and yes the next time
            phone.make_calendar("Work")
            states: set[str] = set()

            def synced() -> bool:
                states.add(_sync_state(api)[0])
                return calendar_named(api, "Work") is not None

            eventually(synced, "the calendar made after the refusal")
            assert states == {"running"}
    finally:
        engine.close()


def test_a_conflict_the_server_wins(radicale, tmp_path_factory):
    # The engine looks at the server only once here (no poll), so the phone's change is
    # certainly unseen when the API writes the same event.
    engine = _own_engine(tmp_path_factory, "600")
    try:
        user, password = radicale.add_user()
        phone = Phone(radicale, user, password)
        personal = phone.make_calendar("Shared")
        personal.save_event(
            _ics(
                "lunch-1", "DTSTART:20270501T120000Z\r\nDTEND:20270501T130000Z\r\nSUMMARY:Lunch\r\n"
            )
        )
        account = add_dav_account(engine, radicale, user, password)
        with engine.client(account["id"]) as api:
            calendar = eventually(lambda: calendar_named(api, "Shared"), "the calendar listed")
            lunch = eventually(
                lambda: events_by_title(api, calendar["id"]).get("Lunch"), "the event synced"
            )
            on_phone = phone.events_by_title(personal)["Lunch"]
            on_phone.icalendar_instance.walk("VEVENT")[0]["SUMMARY"] = "Lunch (phone)"
            on_phone.save()

            reply = api.put(f"/events/{lunch['id']}", json={"title": "Lunch (API)"})
            assert reply.status_code == 200
            eventually(
                lambda: api.get(f"/events/{lunch['id']}").json()["title"] == "Lunch (phone)",
                "the server's version in the API",
            )
            assert set(phone.events_by_title(personal)) == {"Lunch (phone)"}
    finally:
        engine.close()


def _big_calendar(count: int) -> str:
    events = "".join(
        f"BEGIN:VEVENT\r\nUID:bulk-{n}\r\nDTSTAMP:20260101T000000Z\r\n"
        f"DTSTART:20270701T{n % 24:02d}0000Z\r\nDURATION:PT30M\r\nSUMMARY:Bulk {n}\r\n"
        "END:VEVENT\r\n"
        for n in range(count)
    )
    return f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//phone//EN\r\n{events}END:VCALENDAR\r\n"


def test_sigkill_mid_sync_then_restart_no_duplicates_no_gaps(radicale, tmp_path_factory):
    from sqlalchemy import func, select

    from nylas_engine.store.models import Event

    total = 150  # Radicale takes ~10 ms per object to store and as much to list
    user, password = radicale.add_user()
    phone = Phone(radicale, user, password)
    phone.principal  # noqa: B018  (the principal exists once the phone logged in)
    bulk = f"{radicale.url}/{user}/bulk/"
    reply = phone.http.put(
        bulk, content=_big_calendar(total).encode(), headers={"Content-Type": "text/calendar"}
    )
    assert reply.status_code in (201, 204), reply.text
    engine = _own_engine(tmp_path_factory, "1")
    try:
        account = add_dav_account(engine, radicale, user, password)

        def stored() -> int:
            with engine.db.session() as session:
                return int(session.scalar(select(func.count(Event.id))) or 0)

        eventually(lambda: stored() > 0, "the sync under way", deadline=30)
        assert engine.process is not None
        engine.process.kill()  # SIGKILL: no clean shutdown
        engine.process.wait(10)
        engine.start()
        with engine.client(account["id"]) as api:
            # Radicale names a calendar made by a PUT after its path.
            calendar = eventually(lambda: calendar_named(api, f"{user}/bulk"), "the calendar")
            eventually(
                lambda: (
                    api.get(
                        "/events", params={"calendar_id": calendar["id"], "view": "count"}
                    ).json()["count"]
                    == total
                ),
                "every event after the restart",
            )
            titles = api.get(
                "/events", params={"calendar_id": calendar["id"], "limit": 1000}
            ).json()
            assert sorted(e["title"] for e in titles) == sorted(f"Bulk {n}" for n in range(total))
    finally:
        engine.close()


def test_calendars_created_renamed_and_deleted_through_the_api(radicale, dav_engine):
    user, password = radicale.add_user()
    phone = Phone(radicale, user, password)
    phone.make_calendar("Personal")
    account = add_dav_account(dav_engine, radicale, user, password)

    def names() -> set[str]:
        return {c.name for c in phone.principal.calendars()}

    with dav_engine.client(account["id"]) as api:
        eventually(lambda: calendar_named(api, "Personal"), "the calendar listed")
        trips = api.post("/calendars", json={"name": "Trips", "description": "Away"})
        assert trips.status_code == 200, trips.text
        eventually(lambda: "Trips" in names(), "MKCALENDAR on the server")
        made = api.post(
            "/events",
            json={
                "calendar_id": trips.json()["id"],
                "title": "Flight",
                "when": {"date": "2027-08-01"},
            },
        )
        assert made.status_code == 200, made.text
        eventually(
            lambda: "Flight" in phone.events_by_title(phone.calendar("Trips")),
            "the event in the new calendar",
        )
        renamed = api.put(f"/calendars/{trips.json()['id']}", json={"name": "Travel"})
        assert renamed.status_code == 200, renamed.text
        eventually(lambda: "Travel" in names() and "Trips" not in names(), "PROPPATCH")
        assert api.delete(f"/calendars/{trips.json()['id']}").status_code == 200
        eventually(lambda: names() == {"Personal"}, "DELETE on the server")
        # The server's own calendars are listed once, never twice.
        listed = [c["name"] for c in api.get("/calendars").json()]
        assert listed.count("Personal") == 1 and "Travel" not in listed


def test_an_api_update_leaves_what_the_api_does_not_show(radicale, dav_engine):
    user, password = radicale.add_user()
    phone = Phone(radicale, user, password)
    personal = phone.make_calendar("Mine")
    personal.save_event(
        _ics(
            "alarm-1",
            "DTSTART:20270901T100000Z\r\nDTEND:20270901T110000Z\r\nSUMMARY:Review\r\n"
            "LOCATION:Here\r\nX-PHONE-COLOR:teal\r\nCATEGORIES:Work\r\n"
            "BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:Soon\r\nTRIGGER:-PT15M\r\n"
            "END:VALARM\r\n",
        )
    )
    account = add_dav_account(dav_engine, radicale, user, password)
    with dav_engine.client(account["id"]) as api:
        calendar = eventually(lambda: calendar_named(api, "Mine"), "the calendar listed")
        review = eventually(lambda: events_by_title(api, calendar["id"]).get("Review"), "synced")
        assert api.put(f"/events/{review['id']}", json={"title": "Review v2"}).status_code == 200
        updated = eventually(
            lambda: phone.events_by_title(personal).get("Review v2"), "the new title on the phone"
        )
        text = updated.data.replace("\r\n ", "")
        assert "X-PHONE-COLOR:teal" in text and "CATEGORIES:Work" in text
        assert "BEGIN:VALARM" in text and "TRIGGER:-PT15M" in text
        assert "LOCATION:Here" in text
