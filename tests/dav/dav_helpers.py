"""The user's phone (python `caldav`, raw WebDAV for address books) and engine helpers."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import caldav
import httpx
from radicale_server import Radicale
from sync_engines import SyncEngine

DEADLINE = 30.0

MKCOL_ADDRESSBOOK = b"""<?xml version="1.0" encoding="utf-8"?>
<d:mkcol xmlns:d="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav">
  <d:set><d:prop>
    <d:resourcetype><d:collection/><card:addressbook/></d:resourcetype>
    <d:displayname>Contacts</d:displayname>
  </d:prop></d:set>
</d:mkcol>"""


def eventually(check: Callable[[], Any], what: str, deadline: float = DEADLINE) -> Any:
    end = time.monotonic() + deadline
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > end:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.2)


class Phone:
    """Another client of the same server: what the user's phone would do."""

    def __init__(self, server: Radicale, user: str, password: str) -> None:
        self.user, self.password = user, password
        self.dav = caldav.DAVClient(server.url + "/", username=user, password=password)
        self.http = httpx.Client(auth=(user, password), timeout=30)
        self.book = f"{server.url}/{user}/contacts/"
        self.principal = self.dav.principal()

    def make_calendar(self, name: str = "Personal") -> Any:
        return self.principal.make_calendar(name=name)

    def make_address_book(self) -> None:
        reply = self.http.request(
            "MKCOL",
            self.book,
            content=MKCOL_ADDRESSBOOK,
            headers={"Content-Type": "application/xml"},
        )
        assert reply.status_code == 201, reply.text

    def calendar(self, name: str) -> Any:
        return next(c for c in self.principal.calendars() if c.name == name)

    def events_by_title(self, calendar: Any) -> dict[str, Any]:
        found = {}
        for event in calendar.events():
            vevent = event.icalendar_instance.walk("VEVENT")[0]
            found[str(vevent.get("SUMMARY"))] = event
        return found

    def put_card(self, text: str, name: str | None = None) -> str:
        url = self.book + (name or f"{uuid.uuid4()}.vcf")
        reply = self.http.put(url, content=text.encode(), headers={"Content-Type": "text/vcard"})
        assert reply.status_code in (201, 204), reply.text
        return url

    def cards(self) -> dict[str, str]:
        """Every vCard of the address book, by URL."""
        body = b"""<?xml version="1.0"?><card:addressbook-query xmlns:d="DAV:"
            xmlns:card="urn:ietf:params:xml:ns:carddav"><d:prop><d:getetag/>
            <card:address-data/></d:prop></card:addressbook-query>"""
        reply = self.http.request(
            "REPORT",
            self.book,
            content=body,
            headers={"Depth": "1", "Content-Type": "application/xml"},
        )
        import xml.etree.ElementTree as ET

        tree = ET.fromstring(reply.content)
        cards = {}
        for response in tree.findall("{DAV:}response"):
            data = response.find(".//{urn:ietf:params:xml:ns:carddav}address-data")
            if data is not None and data.text:
                cards[response.findtext("{DAV:}href") or ""] = data.text
        return cards


def add_dav_account(
    engine: SyncEngine, server: Radicale, user: str, password: str, *extra: str
) -> dict[str, Any]:
    secret = Path(engine.data_dir) / f"dav-password-{uuid.uuid4().hex}"
    secret.write_text(password + "\n")
    out = engine.cli(
        "accounts", "add", "--email", f"{user}@example.com", "--json",
        "--caldav-url", server.url + "/", "--carddav-url", server.url + "/",
        "--dav-username", user, "--dav-password-file", str(secret), *extra,
    )  # fmt: skip
    secret.unlink()
    result: dict[str, Any] = json.loads(out)
    return result


def calendar_named(api: httpx.Client, name: str) -> dict[str, Any] | None:
    return next((c for c in api.get("/calendars").json() if c["name"] == name), None)


def events_by_title(api: httpx.Client, calendar_id: str, **params: Any) -> dict[str, Any]:
    rows = api.get("/events", params={"calendar_id": calendar_id, **params}).json()
    return {e["title"]: e for e in rows}
