"""Seeding bench/dav.py's Radicale through its storage, before it starts, as its PUT of a
whole collection would store it, without the minutes that PUT takes.

Radicale's PUT of a calendar (radicale/app/put.py `prepare`) splits it into one item per
UID, each a new VCALENDAR that vobject serializes, and vobject then builds the VTIMEZONE of
the event's zone from pytz's transitions: about 50 ms an event, two minutes for 2,000 on a
quiet machine and far more under load. Here the items are the same, made the same way
(`check_and_sanitize_items`, one VCALENDAR per UID with Radicale's PRODID, `Item.prepare`),
but each zone's VTIMEZONE is built once and added to every event in it, where vobject would
have built the same one again. They are written by Radicale's own storage
(`create_collection` with its items, what the PUT calls), so the files, Radicale's item
cache and its sync state are those an upload leaves. `check_like_put` compares the first
events with Radicale's `prepare` itself, byte for byte, on every run.

    python bench/dav_seed.py RADICALE_CONFIG USER COUNT   (bench/dav.py runs it)
"""

from __future__ import annotations

import sys
from pathlib import Path

import radicale.item as radicale_item
import vobject
from radicale import config, storage
from radicale.app import put

_ZONES: dict[str, vobject.base.Component] = {}


def calendar_text(count: int) -> str:
    """One calendar of `count` events in a named zone, each with an attendee."""
    events = "".join(
        f"BEGIN:VEVENT\r\nUID:ev-{n}\r\nDTSTAMP:20260101T000000Z\r\n"
        f"DTSTART;TZID=Europe/Paris:2027{1 + n % 12:02d}{1 + n % 28:02d}T{8 + n % 10:02d}0000\r\n"
        f"DURATION:PT45M\r\nSUMMARY:Meeting {n}\r\nLOCATION:Room {n % 40}\r\n"
        f"ATTENDEE;CN=Person {n}:mailto:p{n}@example.com\r\nEND:VEVENT\r\n"
        for n in range(count)
    )
    return f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\n{events}END:VCALENDAR\r\n"


def cards_text(count: int) -> str:
    """`count` vCards, each with two typed emails and a phone."""
    return "".join(
        f"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:card-{n}\r\nN:Surname{n};Given{n};;;\r\n"
        f"FN:Given{n} Surname{n}\r\nEMAIL;TYPE=WORK:g{n}@work.example\r\n"
        f"EMAIL;TYPE=HOME:g{n}@home.example\r\nTEL;TYPE=CELL:+33 6 00 00 {n % 100:02d}\r\n"
        f"ORG:Company {n % 50}\r\nEND:VCARD\r\n"
        for n in range(count)
    )


def seed(config_path: Path, user: str, calendar: str, cards: str) -> None:
    """`/user/cal/` holding `calendar`'s events and `/user/book/` `cards`' vCards."""
    store = storage.load(config.load([(str(config_path), False)]))
    with store.acquire_lock("w", user):
        collection = f"{user}/cal"
        store.create_collection(
            f"/{collection}/", items=event_items(collection, calendar), props={"tag": "VCALENDAR"}
        )
        items, tag, _whole, props, failed = put.prepare(
            list(vobject.readComponents(cards)),
            f"/{user}/book/",
            "text/vcard",
            True,
            False,
            max_resource_size=10**9,
            max_vevent_rrule_occurrence=0,
        )
        assert failed is None and tag == "VADDRESSBOOK", failed
        store.create_collection(f"/{user}/book/", items=list(items), props=props)


def event_items(collection: str, text: str) -> list[radicale_item.Item]:
    """One item per event of the calendar `text` (one UID each), as `put.prepare` makes them."""
    calendar = vobject.readOne(text)
    radicale_item.check_and_sanitize_items(
        [calendar], max_vevent_rrule_occurrence=0, is_collection=True, tag="VCALENDAR"
    )
    items = []
    for event in calendar.vevent_list:
        single = vobject.iCalendar()
        single.add(event)
        single.add(vobject.base.ContentLine("PRODID", [], put.PRODID))
        # the zone's name as vobject's serializer finds it (the TZID parameter is gone once
        # it has read the DTSTART into a datetime); zones it does not find here, it builds
        tzinfo = getattr(event.dtstart.value, "tzinfo", None)
        tzid = vobject.icalendar.TimezoneComponent.registerTzinfo(tzinfo)
        if tzid and tzid != "UTC":
            single.add(_zone(tzid))
        item = radicale_item.Item(collection_path=collection, vobject_item=single)
        item.prepare()
        items.append(item)
    return items


def _zone(tzid: str) -> vobject.base.Component:
    if tzid not in _ZONES:
        zone = vobject.icalendar.TimezoneComponent(tzinfo=vobject.icalendar.getTzid(tzid))
        _ZONES[tzid] = vobject.readOne(zone.serialize())
    return _ZONES[tzid]


def check_like_put(sample: str) -> None:
    """The events of the calendar `sample` as `event_items` makes them and as Radicale's PUT
    of a whole calendar does (`put.prepare`, zones built for each event): the same text."""
    items, _tag, _whole, _props, failed = put.prepare(
        [vobject.readOne(sample)],
        "/u/cal/",
        "text/calendar",
        True,
        False,
        max_resource_size=10**9,
        max_vevent_rrule_occurrence=0,
    )
    assert failed is None, failed
    theirs = {item.uid: item.serialize() for item in items}
    ours = {item.uid: item.serialize() for item in event_items("u/cal", sample)}
    assert ours == theirs, "the seeded events differ from what Radicale's PUT stores"


if __name__ == "__main__":
    config_path, user, count = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    check_like_put(calendar_text(3))
    seed(config_path, user, calendar_text(count), cards_text(count))
