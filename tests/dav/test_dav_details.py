"""Details of two-way sync with Radicale: one occurrence of a series, reminders, groups.

The API's change to one expanded occurrence becomes a RECURRENCE-ID component of the
series' calendar object on the server, its cancellation an EXDATE; the phone (a second
client) sees both, and its own later change to that occurrence reaches the API.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from dav_helpers import Phone, add_dav_account, calendar_named, events_by_title, eventually

PARIS = ZoneInfo("Europe/Paris")
SERIES = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//phone//EN\r\n"
    "BEGIN:VEVENT\r\nUID:retro-1\r\nDTSTAMP:20260101T000000Z\r\n"
    "DTSTART;TZID=Europe/Paris:20270301T090000\r\nDTEND;TZID=Europe/Paris:20270301T100000\r\n"
    "RRULE:FREQ=WEEKLY;COUNT=4\r\nSUMMARY:Retro\r\nX-PHONE-COLOR:teal\r\nEND:VEVENT\r\n"
    "BEGIN:VEVENT\r\nUID:retro-1\r\nDTSTAMP:20260101T000000Z\r\n"
    "RECURRENCE-ID;TZID=Europe/Paris:20270308T090000\r\n"
    "DTSTART;TZID=Europe/Paris:20270308T110000\r\nDTEND;TZID=Europe/Paris:20270308T120000\r\n"
    "SUMMARY:Retro (late)\r\nEND:VEVENT\r\n"
    "END:VCALENDAR\r\n"
)


def _ts(*parts: int) -> int:
    return int(datetime(*parts, tzinfo=PARIS).timestamp())


def _occurrences(api, calendar_id: str) -> list[tuple[int, str]]:
    params = {
        "calendar_id": calendar_id,
        "expand_recurring": "true",
        "starts_after": _ts(2027, 2, 1, 0, 0),
        "ends_before": _ts(2027, 5, 1, 0, 0),
    }
    return sorted(
        (e["when"]["start_time"], e["title"]) for e in api.get("/events", params=params).json()
    )


def test_one_occurrence_changed_and_cancelled_through_the_api_and_on_the_phone(
    radicale, dav_engine
):
    user, password = radicale.add_user()
    phone = Phone(radicale, user, password)
    team = phone.make_calendar("Retros")
    team.save_event(SERIES)
    account = add_dav_account(dav_engine, radicale, user, password)

    with dav_engine.client(account["id"]) as api:
        calendar = eventually(lambda: calendar_named(api, "Retros"), "the calendar listed")
        eventually(lambda: events_by_title(api, calendar["id"]), "the series synced")
        params = {"calendar_id": calendar["id"], "expand_recurring": "true"}
        instances = {
            e["when"]["start_time"]: e
            for e in api.get("/events", params={**params, "starts_after": 0}).json()
        }
        third = instances[_ts(2027, 3, 15, 9, 0)]
        fourth = instances[_ts(2027, 3, 22, 9, 0)]
        assert third["read_only"] and third["id"].startswith(third["master_event_id"] + "_")

        moved = api.put(
            f"/events/{third['id']}",
            json={
                "title": "Retro (moved)",
                "when": {
                    "start_time": _ts(2027, 3, 16, 14, 0),
                    "end_time": _ts(2027, 3, 16, 15, 0),
                },
            },
        )
        assert moved.status_code == 200, moved.text
        override = moved.json()
        assert override["master_event_id"] == third["master_event_id"]
        assert override["original_start_time"] == _ts(2027, 3, 15, 9, 0)
        assert api.delete(f"/events/{fourth['id']}").status_code == 200
        assert _occurrences(api, calendar["id"]) == [
            (_ts(2027, 3, 1, 9, 0), "Retro"),
            (_ts(2027, 3, 8, 11, 0), "Retro (late)"),
            (_ts(2027, 3, 16, 14, 0), "Retro (moved)"),
        ]
        # Read by instance id: as the expanded list shows each occurrence.
        first = instances[_ts(2027, 3, 1, 9, 0)]
        assert api.get(f"/events/{first['id']}").json() == first
        assert (
            api.get(f"/events/{third['id']}").json() == api.get(f"/events/{override['id']}").json()
        )
        assert api.get(f"/events/{third['id']}").json()["title"] == "Retro (moved)"
        assert api.get(f"/events/{fourth['id']}").status_code == 404  # cancelled
        assert api.get(f"/events/{third['master_event_id']}_20270329T070000Z").status_code == 404

        # On the phone: one object, the change as a RECURRENCE-ID, the cancellation an EXDATE,
        # and what the phone had before (its colour, the 8 March change) still there.
        def on_phone() -> str | None:
            (obj,) = team.events()
            text = obj.data.replace("\r\n ", "")
            return text if "Retro (moved)" in text and "EXDATE" in text else None

        text = eventually(on_phone, "the occurrence's change and cancellation on the phone")
        assert "RECURRENCE-ID;TZID=Europe/Paris:20270315T090000" in text
        assert "EXDATE;TZID=Europe/Paris:20270322T090000" in text
        assert "Retro (late)" in text and "X-PHONE-COLOR:teal" in text
        expanded = team.search(
            start=datetime(2027, 2, 1, tzinfo=PARIS), end=datetime(2027, 5, 1, tzinfo=PARIS),
            event=True, expand=True,
        )  # fmt: skip
        seen = sorted(
            (
                e.icalendar_instance.walk("VEVENT")[0].decoded("DTSTART").astimezone(PARIS),
                str(e.icalendar_instance.walk("VEVENT")[0]["SUMMARY"]),
            )
            for e in expanded
        )
        assert [(d.day, d.hour, title) for d, title in seen] == [
            (1, 9, "Retro"),
            (8, 11, "Retro (late)"),
            (16, 14, "Retro (moved)"),
        ]

        # The phone renames that occurrence: the API shows it, the cancellation stays.
        (obj,) = team.events()
        obj.data = obj.data.replace("Retro (moved)", "Retro (room 4)")
        obj.save()
        eventually(
            lambda: (
                (_ts(2027, 3, 16, 14, 0), "Retro (room 4)") in _occurrences(api, calendar["id"])
            ),
            "the phone's change of the occurrence in the API",
        )
        assert len(_occurrences(api, calendar["id"])) == 3
        assert api.get(f"/events/{override['id']}").json()["title"] == "Retro (room 4)"

    # Another account can't reach the series through an instance id.
    other_user, other_password = radicale.add_user()
    other = add_dav_account(dav_engine, radicale, other_user, other_password)
    with dav_engine.client(other["id"]) as stranger:
        assert stranger.put(f"/events/{third['id']}", json={"title": "x"}).status_code == 404
        assert stranger.get(f"/events/{first['id']}").status_code == 404
        assert stranger.delete(f"/events/{third['id']}").status_code == 404


def test_the_whole_series_changed_through_the_api_overrides_kept_or_dropped(radicale, dav_engine):
    user, password = radicale.add_user()
    phone = Phone(radicale, user, password)
    team = phone.make_calendar("Standups")
    late = (
        "BEGIN:VEVENT\r\nUID:retro-1\r\nDTSTAMP:20260101T000000Z\r\n"
        "RECURRENCE-ID;TZID=Europe/Paris:20270315T090000\r\n"
        "DTSTART;TZID=Europe/Paris:20270315T100000\r\nDTEND;TZID=Europe/Paris:20270315T110000\r\n"
        "SUMMARY:Retro (15th, later)\r\nEND:VEVENT\r\n"
    )
    team.save_event(SERIES.replace("END:VCALENDAR", late + "END:VCALENDAR"))
    account = add_dav_account(dav_engine, radicale, user, password)

    with dav_engine.client(account["id"]) as api:
        calendar = eventually(lambda: calendar_named(api, "Standups"), "the calendar listed")
        master = eventually(lambda: events_by_title(api, calendar["id"]).get("Retro"), "synced")
        eventually(lambda: len(_occurrences(api, calendar["id"])) == 4, "the occurrences")
        bad = api.put(f"/events/{master['id']}", json={"recurrence": {"rrule": ["FREQ=X"]}})
        assert bad.status_code == 400
        # Every other week instead: the 8 March change no longer has an occurrence (dropped),
        # the 15 March one has (kept).
        changed = api.put(
            f"/events/{master['id']}",
            json={
                "title": "Retro (fortnightly)",
                "recurrence": {
                    "rrule": ["RRULE:FREQ=WEEKLY;INTERVAL=2;COUNT=2"],
                    "timezone": "Europe/Paris",
                },
            },
        )
        assert changed.status_code == 200, changed.text
        assert changed.json()["recurrence"]["rrule"] == ["RRULE:FREQ=WEEKLY;INTERVAL=2;COUNT=2"]
        expected = [
            (_ts(2027, 3, 1, 9, 0), "Retro (fortnightly)"),
            (_ts(2027, 3, 15, 10, 0), "Retro (15th, later)"),
        ]
        assert _occurrences(api, calendar["id"]) == expected

        def on_phone() -> list[tuple[int, int, str]] | None:
            found = team.search(
                start=datetime(2027, 2, 1, tzinfo=PARIS), end=datetime(2027, 5, 1, tzinfo=PARIS),
                event=True, expand=True,
            )  # fmt: skip
            vevents = [e.icalendar_instance.walk("VEVENT")[0] for e in found]
            seen = sorted(
                (v.decoded("DTSTART").astimezone(PARIS), str(v["SUMMARY"])) for v in vevents
            )
            rows = [(d.day, d.hour, title) for d, title in seen]
            return rows if any("fortnightly" in r[2] for r in rows) else None

        assert eventually(on_phone, "the new series on the phone") == [
            (1, 9, "Retro (fortnightly)"),
            (15, 10, "Retro (15th, later)"),
        ]
        (obj,) = team.events()
        text = obj.data.replace("\r\n ", "")
        assert "RRULE:FREQ=WEEKLY;COUNT=2;INTERVAL=2" in text and "X-PHONE-COLOR:teal" in text
        assert (
            "Retro (late)" not in text and "RECURRENCE-ID;TZID=Europe/Paris:20270315T090000" in text
        )
        # The API still shows the same once the server has the new series.
        assert _occurrences(api, calendar["id"]) == expected


ALARMS = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//phone//EN\r\n"
    "BEGIN:VEVENT\r\nUID:dentist-1\r\nDTSTAMP:20260101T000000Z\r\n"
    "DTSTART:20270601T080000Z\r\nDTEND:20270601T090000Z\r\nSUMMARY:Dentist\r\n"
    "BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:Dentist\r\nTRIGGER:-PT15M\r\n"
    "X-WR-ALARMUID:alarm-a\r\nEND:VALARM\r\n"
    "BEGIN:VALARM\r\nACTION:AUDIO\r\nTRIGGER;VALUE=DATE-TIME:20270531T180000Z\r\n"
    "END:VALARM\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)


def test_reminders_both_ways_other_alarm_properties_kept(radicale, dav_engine):
    user, password = radicale.add_user()
    phone = Phone(radicale, user, password)
    personal = phone.make_calendar("Health")
    personal.save_event(ALARMS)
    account = add_dav_account(dav_engine, radicale, user, password)

    with dav_engine.client(account["id"]) as api:
        calendar = eventually(lambda: calendar_named(api, "Health"), "the calendar listed")
        dentist = eventually(lambda: events_by_title(api, calendar["id"]).get("Dentist"), "synced")
        assert dentist["reminders"] == {"reminder_minutes": "[15]", "reminder_method": "popup"}

        bad = api.put(f"/events/{dentist['id']}", json={"reminders": {"reminder_minutes": "x"}})
        assert bad.status_code == 400
        changed = api.put(
            f"/events/{dentist['id']}",
            json={"reminders": {"reminder_minutes": "[30]", "reminder_method": "email"}},
        )
        assert changed.json()["reminders"]["reminder_minutes"] == "[30]"

        def alarm_on_phone() -> str | None:
            text = phone.events_by_title(personal)["Dentist"].data.replace("\r\n ", "")
            return text if "TRIGGER:-PT30M" in text else None

        text = eventually(alarm_on_phone, "the new reminder on the phone")
        assert "ACTION:EMAIL" in text and "X-WR-ALARMUID:alarm-a" in text
        assert "TRIGGER;VALUE=DATE-TIME:20270531T180000Z" in text  # the other alarm stays

        # A new event with a reminder, and the phone moving that reminder.
        made = api.post(
            "/events",
            json={
                "calendar_id": calendar["id"],
                "title": "Vaccine",
                "when": {"start_time": _ts(2027, 7, 1, 10, 0), "end_time": _ts(2027, 7, 1, 11, 0)},
                "reminders": {"reminder_minutes": "[60]", "reminder_method": "popup"},
            },
        )
        assert made.status_code == 200, made.text
        vaccine = eventually(
            lambda: phone.events_by_title(personal).get("Vaccine"), "the new event on the phone"
        )
        assert "TRIGGER:-PT1H" in vaccine.data and "ACTION:DISPLAY" in vaccine.data
        vaccine.data = vaccine.data.replace("TRIGGER:-PT1H", "TRIGGER:-PT5M")
        vaccine.save()
        eventually(
            lambda: (
                api.get(f"/events/{made.json()['id']}").json()["reminders"]
                == {"reminder_minutes": "[5]", "reminder_method": "popup"}
            ),
            "the phone's reminder in the API",
        )


def _card(uid: str, body: str, version: str = "3.0") -> str:
    return f"BEGIN:VCARD\r\nVERSION:{version}\r\nUID:{uid}\r\n{body}END:VCARD\r\n"


def test_contact_groups_from_group_cards_and_categories(radicale, dav_engine):
    user, password = radicale.add_user()
    phone = Phone(radicale, user, password)
    phone.make_address_book()
    phone.put_card(
        _card("ada-1", "FN:Ada Lovelace\r\nN:Lovelace;Ada;;;\r\nCATEGORIES:Friends,Chess\r\n")
    )
    phone.put_card(_card("grace-1", "FN:Grace Hopper\r\nN:Hopper;Grace;;;\r\n"))
    family = phone.put_card(
        _card("family-1", "KIND:group\r\nFN:Family\r\nMEMBER:urn:uuid:ada-1\r\n", "4.0")
    )
    work_card = (
        "X-ADDRESSBOOKSERVER-KIND:group\r\nFN:Work\r\n"
        "X-ADDRESSBOOKSERVER-MEMBER:urn:uuid:grace-1\r\n"
    )
    work = phone.put_card(_card("work-1", work_card))
    account = add_dav_account(dav_engine, radicale, user, password)
    other_user, other_password = radicale.add_user()
    other = add_dav_account(dav_engine, radicale, other_user, other_password)

    def names(contact: dict) -> list[str]:
        return sorted(g["name"] for g in contact["groups"])

    def people(api) -> dict[str, dict]:
        return {c["given_name"]: c for c in api.get("/contacts").json()}

    with dav_engine.client(account["id"]) as api:
        eventually(lambda: len(people(api)) == 2, "the two people synced")
        groups = eventually(
            lambda: (found := api.get("/contacts/groups").json()) and len(found) == 4 and found,
            "the groups listed",
        )
        assert sorted(g["name"] for g in groups) == ["Chess", "Family", "Friends", "Work"]
        assert all(
            g["object"] == "contact_group" and g["account_id"] == account["id"] for g in groups
        )
        by_name = {g["name"]: g["id"] for g in groups}
        assert set(people(api)) == {"Ada", "Grace"}  # group cards are not contacts
        assert names(people(api)["Ada"]) == ["Chess", "Family", "Friends"]
        assert names(people(api)["Grace"]) == ["Work"]
        in_work = api.get("/contacts", params={"group": by_name["Work"]}).json()
        assert [c["given_name"] for c in in_work] == ["Grace"]

        # The phone adds Ada to Work and deletes Family: the API follows.
        phone.put_card(
            _card("work-1", work_card + "X-ADDRESSBOOKSERVER-MEMBER:urn:uuid:ada-1\r\n"),
            work.rsplit("/", 1)[1],
        )
        assert phone.http.delete(family).status_code in (200, 204)
        eventually(
            lambda: names(people(api)["Ada"]) == ["Chess", "Friends", "Work"],
            "Ada's new groups",
        )
        # An API update leaves the categories on the server.
        ada = people(api)["Ada"]
        assert api.put(f"/contacts/{ada['id']}", json={"job_title": "Analyst"}).status_code == 200
        eventually(
            lambda: any(
                "TITLE:Analyst" in c and "CATEGORIES:Friends,Chess" in c
                for c in phone.cards().values()
            ),
            "the update on the phone, categories kept",
        )
    with dav_engine.client(other["id"]) as api:
        assert api.get("/contacts/groups").json() == []


def test_contact_groups_written_as_the_address_book_models_them(radicale, dav_engine):
    user, password = radicale.add_user()
    phone = Phone(radicale, user, password)
    phone.make_address_book()
    phone.put_card(_card("ada-2", "FN:Ada Byron\r\nN:Byron;Ada;;;\r\nCATEGORIES:Friends\r\n"))
    grace = phone.put_card(_card("grace-2", "FN:Grace Brewster\r\nN:Brewster;Grace;;;\r\n"))
    family = phone.put_card(
        _card("family-2", "KIND:group\r\nFN:Family\r\nMEMBER:urn:uuid:ada-2\r\n", "4.0")
    )
    work = phone.put_card(
        _card(
            "work-2",
            "X-ADDRESSBOOKSERVER-KIND:group\r\nFN:Work\r\n"
            "X-ADDRESSBOOKSERVER-MEMBER:urn:uuid:grace-2\r\n",
        )
    )
    account = add_dav_account(dav_engine, radicale, user, password)

    def card(url: str) -> str:
        return phone.cards()[url.removeprefix(radicale.url)].replace("\r\n ", "")

    with dav_engine.client(account["id"]) as api:
        groups = eventually(
            lambda: (found := api.get("/contacts/groups").json()) and len(found) == 3 and found,
            "the groups listed",
        )
        by_name = {g["name"]: g["id"] for g in groups}
        people = {c["given_name"]: c for c in api.get("/contacts").json()}
        for bad in ([{"id": "no-such-group"}], [{"id": 7}], [{"name": ""}], [{"name": "a,b"}]):
            reply = api.put(f"/contacts/{people['Grace']['id']}", json={"groups": bad})
            assert reply.status_code == 400, bad

        # Grace leaves Work (an Apple group card), joins Family (a vCard 4 group card) and
        # a new category; a new contact joins Work.
        changed = api.put(
            f"/contacts/{people['Grace']['id']}",
            json={"groups": [{"id": by_name["Family"]}, {"name": "Chess"}]},
        )
        assert changed.status_code == 200, changed.text
        assert [g["name"] for g in changed.json()["groups"]] == ["Chess", "Family"]
        alan = api.post(
            "/contacts", json={"given_name": "Alan", "groups": [{"id": by_name["Work"]}]}
        )
        assert alan.status_code == 200, alan.text
        assert [g["name"] for g in alan.json()["groups"]] == ["Work"]

        alan_uid = eventually(
            lambda: next(
                (
                    line.split(":", 1)[1]
                    for text in phone.cards().values()
                    if "FN:Alan" in text
                    for line in text.splitlines()
                    if line.startswith("UID:")
                ),
                None,
            ),
            "Alan on the phone",
        )
        eventually(lambda: f"urn:uuid:{alan_uid}" in card(work), "Alan among Work's members")
        assert "grace-2" not in card(work)
        eventually(lambda: "urn:uuid:grace-2" in card(family), "Grace among Family's members")
        assert "MEMBER:urn:uuid:ada-2" in card(family) and "KIND:group" in card(family)
        assert "CATEGORIES:Chess" in card(grace)

        # The phone's next change to Grace, synced back, keeps the same groups.
        text = card(grace).replace("FN:Grace Brewster", "FN:Grace Brewster\r\nNOTE:chess club")
        phone.put_card(text, grace.rsplit("/")[-1])

        def grace_now() -> dict | None:
            found = api.get(f"/contacts/{people['Grace']['id']}").json()
            return found if found["notes"] == "chess club" else None

        synced = eventually(grace_now, "the phone's change in the API")
        assert [g["name"] for g in synced["groups"]] == ["Chess", "Family"]
        work_ids = [
            c["given_name"] for c in api.get("/contacts", params={"group": by_name["Work"]}).json()
        ]
        assert work_ids == ["Alan"]
    other_user, other_password = radicale.add_user()
    other = add_dav_account(dav_engine, radicale, other_user, other_password)
    with dav_engine.client(other["id"]) as stranger:
        made = stranger.post(
            "/contacts", json={"given_name": "Eve", "groups": [{"id": by_name["Work"]}]}
        )
        assert made.status_code == 400  # another account's group
