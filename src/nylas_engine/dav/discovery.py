"""Finding an account's calendars and address books.

From a starting URL (the one configured, else a provider preset such as iCloud's or
Fastmail's, else `https://<email domain>/.well-known/caldav` or `/carddav`, RFC 6764 §5)
the principal comes from `current-user-principal` (RFC 5397), its home from
`calendar-home-set` / `addressbook-home-set`, and the collections are the home's children
whose resource type says so. A starting URL that is itself a collection is taken as the
only one.
"""

from __future__ import annotations

from dataclasses import dataclass

from nylas_engine.dav.client import CALDAV, CARDDAV, CS, DAV, DavClient, Response, q

WELL_KNOWN = {"calendar": "/.well-known/caldav", "addressbook": "/.well-known/carddav"}
_HOME = {
    "calendar": (CALDAV, "calendar-home-set"),
    "addressbook": (CARDDAV, "addressbook-home-set"),
}
_TYPE = {"calendar": (CALDAV, "calendar"), "addressbook": (CARDDAV, "addressbook")}
_COLLECTION_PROPS = [
    q(DAV, "resourcetype"),
    q(DAV, "displayname"),
    q(DAV, "sync-token"),
    q(CS, "getctag"),
    q(DAV, "current-user-privilege-set"),
    q(CALDAV, "calendar-description"),
    q(CALDAV, "supported-calendar-component-set"),
]


@dataclass
class RemoteCollection:
    kind: str  # calendar | addressbook
    href: str
    display_name: str
    description: str | None
    sync_token: str | None
    ctag: str | None
    read_only: bool


# Providers whose servers are not at the mail domain's well-known URLs.
_ICLOUD = {"calendar": "https://caldav.icloud.com/", "addressbook": "https://contacts.icloud.com/"}
_FASTMAIL = {
    "calendar": "https://caldav.fastmail.com/",
    "addressbook": "https://carddav.fastmail.com/",
}
PRESETS = {
    "icloud.com": _ICLOUD,
    "me.com": _ICLOUD,
    "mac.com": _ICLOUD,
    "fastmail.com": _FASTMAIL,
    "fastmail.fm": _FASTMAIL,
    "mailbox.org": {
        "calendar": "https://dav.mailbox.org/",
        "addressbook": "https://dav.mailbox.org/",
    },
}


def well_known(email: str, kind: str) -> str:
    """Where to start looking: a provider's known server, else the domain's well-known URL."""
    domain = email.rpartition("@")[2].lower()
    preset = PRESETS.get(domain)
    return preset[kind] if preset else f"https://{domain}{WELL_KNOWN[kind]}"


def home_set(client: DavClient, start: str, kind: str) -> str:
    """The URL of the principal's calendar (or address book) home."""
    first = client.propfind(start, [q(DAV, "current-user-principal"), q(*_HOME[kind])])
    if first and first[0].hrefs(*_HOME[kind]):
        return _absolute(first[0].href, first[0].hrefs(*_HOME[kind])[0])
    principal = start
    if first and first[0].hrefs(DAV, "current-user-principal"):
        principal = _absolute(first[0].href, first[0].hrefs(DAV, "current-user-principal")[0])
    found = client.propfind(principal, [q(*_HOME[kind])])
    homes = found[0].hrefs(*_HOME[kind]) if found else []
    return _absolute(found[0].href, homes[0]) if homes else start


def list_collections(
    client: DavClient, start: str, kind: str, listed: dict[str, list[Response]] | None = None
) -> tuple[str, list[RemoteCollection]]:
    """The home URL and the collections of `kind` in it. `listed` keeps each home's listing
    for the next call: a server with one home for calendars and address books (Radicale)
    is listed once, and a listing costs it a pass over every object of every collection
    (their sync tokens and CTags: 0.3-0.7 s of an initial sync of 2,000 events + 2,000
    contacts, bench/RESULTS.md)."""
    here = client.propfind(start, _COLLECTION_PROPS)
    if here and here[0].has(DAV, "resourcetype", *_TYPE[kind]):
        return start, [_collection(here[0], kind)]
    home = home_set(client, start, kind)
    listed = {} if listed is None else listed
    if home not in listed:
        listed[home] = client.propfind(home, _COLLECTION_PROPS, depth="1")
    rows = listed[home]
    found = [
        _collection(r, kind)
        for r in rows
        if r.status == 200 and r.has(DAV, "resourcetype", *_TYPE[kind]) and _events(r, kind)
    ]
    return home, found


def _events(response: Response, kind: str) -> bool:
    """A calendar that holds events (not only tasks or journal entries)."""
    if kind != "calendar":
        return True
    components = response.props.get(q(CALDAV, "supported-calendar-component-set"))
    if components is None:
        return True
    names = {c.get("name", "").upper() for c in components}
    return not names or "VEVENT" in names


def _collection(response: Response, kind: str) -> RemoteCollection:
    privileges = response.props.get(q(DAV, "current-user-privilege-set"))
    writable = privileges is None or any(
        privileges.find(f".//{q(DAV, name)}") is not None
        for name in ("write", "write-content", "all", "bind")
    )
    return RemoteCollection(
        kind=kind,
        href=response.href,
        display_name=response.text(DAV, "displayname") or "",
        description=response.text(CALDAV, "calendar-description"),
        sync_token=response.text(DAV, "sync-token"),
        ctag=response.text(CS, "getctag"),
        read_only=not writable,
    )


def _absolute(base: str, href: str) -> str:
    from urllib.parse import urljoin

    return urljoin(base, href)
