"""The official Node.js SDK 6.x (tests/node_sdk.py) on free-busy, availability (single and
consecutive), `generateICS` and room resources, against the live engine."""

from __future__ import annotations

from typing import Any

from node_sdk import run_node

MONDAY = 1_893_974_400  # 2030-01-07 00:00 UTC
H = 3600


def test_free_busy_and_availability(engine: Any, account: dict[str, Any], api: Any) -> None:
    calendar_id = api.get("/calendars").json()[0]["id"]
    busy = api.post(
        "/events",
        json={
            "calendar_id": calendar_id,
            "when": {"start_time": MONDAY + 9 * H, "end_time": MONDAY + 10 * H},
        },
    )
    assert busy.status_code == 200, busy.text
    seen = run_node(
        engine.url,
        account["id"],
        """
        const me = values.me;
        const freeBusy = await nylas.calendars.freeBusy({
          startTime: values.start, endTime: values.start + 86400, emails: [me]});
        const single = await nylas.calendars.availability({
          emails: [me], duration: 60, interval: 60,
          startTime: values.start + 8 * 3600, endTime: values.start + 12 * 3600, buffer: 0});
        let raw;
        await nylas.calendars.consecutiveAvailability({
          emails: [[me], ['guest@example.net']], duration: 60, interval: 60,
          startTime: values.start + 8 * 3600, endTime: values.start + 11 * 3600,
          freeBusy: [{email: 'guest@example.net', timeSlots: [
            {status: 'busy', startTime: values.start + 8 * 3600,
             endTime: values.start + 9 * 3600}]}],
        }, (error, json) => { raw = json; });
        return {
          freeBusy: freeBusy.map(f => [f.email, f.timeSlots.map(s => [s.startTime, s.endTime])]),
          single: single.timeSlots.map(s => [s.status, s.startTime, s.emails]),
          consecutive: raw.map(chain => chain.map(m => [m.emails[0], m.start_time])),
        };
        """,
        me=account["email_address"],
        start=MONDAY,
    )
    me = account["email_address"]
    assert seen["freeBusy"] == [[me, [[MONDAY + 9 * H, MONDAY + 10 * H]]]]
    assert seen["single"] == [
        ["free", MONDAY + 8 * H, [me]],
        ["free", MONDAY + 10 * H, [me]],
        ["free", MONDAY + 11 * H, [me]],
    ]
    assert seen["consecutive"] == [
        [[me, MONDAY + 8 * H], ["guest@example.net", MONDAY + 9 * H]],
        [["guest@example.net", MONDAY + 9 * H], [me, MONDAY + 10 * H]],
    ]


def test_generate_ics(engine: Any, account: dict[str, Any], api: Any) -> None:
    calendar_id = api.get("/calendars").json()[0]["id"]
    ics = run_node(
        engine.url,
        account["id"],
        """
        const When = require('nylas/lib/models/when').default;
        const event = nylas.events.build({
          calendarId: values.calendar, title: 'Design review',
          when: new When({startTime: values.start, endTime: values.start + 3600})});
        return await event.generateICS({method: 'publish', iCalUID: 'review@example.org'});
        """,
        calendar=calendar_id,
        start=MONDAY,
    )
    assert "METHOD:PUBLISH" in ics
    assert "SUMMARY:Design review" in ics
    assert "UID:review@example.org" in ics
    assert "DTSTART:20300107T000000Z" in ics


def test_resources(engine: Any, account: dict[str, Any]) -> None:
    engine.cli(
        "resources", "add", "boardroom@example.org", "--name", "Boardroom", "--capacity", "12"
    )
    try:
        rooms = run_node(
            engine.url,
            account["id"],
            """
            const rooms = await nylas.resources.list();
            return rooms.map(r => [r.object, r.email, r.name, r.capacity]);
            """,
        )
    finally:
        engine.cli("resources", "remove", "boardroom@example.org")
    assert rooms == [["room_resource", "boardroom@example.org", "Boardroom", "12"]]
