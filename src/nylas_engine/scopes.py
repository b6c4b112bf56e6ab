"""What an access token's scopes let it reach (hosted Nylas v2 scopes, docs/protocol.md §16.1).

A request needs one *permission*, derived from its method and the first segment of its path
(`GET /messages/{id}` needs `mail.read`, `POST /send` needs `send`); each scope grants a set of
permissions. `/account` and `/delta` need none: delta pages leave out the object types the
token may not read instead of refusing the whole page. A token holding every permission (the
default `email,calendar,contacts`, or open mode's account id) is not checked at all, so an
account route missing from `_AREAS` stays open to it and closed to narrower tokens.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from nylas_engine.errors import Forbidden

# The first path segment of an account route → the area its permissions are named after.
# None: every token may use it.
_AREAS: dict[str, str | None] = {
    "account": None,
    "delta": None,
    "messages": "mail",
    "threads": "mail",
    "drafts": "drafts",
    "files": "files",
    "folders": "folders",
    "labels": "folders",
    "send": "send",
    "send-with-features": "send",
    "v2": "send",  # /v2/outbox: scheduled sends
    "job-statuses": None,  # the account's own jobs
    "calendars": "calendar",
    "events": "calendar",
    "send-rsvp": "calendar",
    "contacts": "contacts",
    "resources": "calendar",
}
# POSTs that only read (free-busy, availability, an .ics made from an event): a read-only
# calendar token may make them, as hosted v2 allowed.
_POST_READS = frozenset(
    (
        "/calendars/free-busy",
        "/calendars/availability",
        "/calendars/availability/consecutive",
        "/events/to-ics",
    )
)

_MAIL = frozenset(("mail.read", "mail.write"))
_DRAFTS = frozenset(("drafts.read", "drafts.write"))
_FILES = frozenset(("files.read", "files.upload", "files.write"))
_FOLDERS = frozenset(("folders.read", "folders.write"))
_CALENDAR = frozenset(("calendar.read", "calendar.write"))
_CONTACTS = frozenset(("contacts.read", "contacts.write"))
_MAIL_READ = frozenset(("mail.read", "drafts.read", "files.read", "folders.read"))

# Scope → permissions, in the order an error message suggests them (broadest first).
# Uploading a file (POST /files) is part of composing, so the send and drafts scopes have it.
SCOPES: dict[str, frozenset[str]] = {
    "email": _MAIL | _DRAFTS | _FILES | _FOLDERS | {"send"},
    "email.modify": _MAIL | _FILES | _FOLDERS | {"drafts.read"},
    "email.read_only": _MAIL_READ,
    "email.drafts": _DRAFTS | {"files.upload"},
    "email.send": frozenset(("send", "files.upload")),
    "email.folders_and_labels": _FOLDERS,
    "calendar": _CALENDAR,
    "calendar.read_only": frozenset(("calendar.read",)),
    "contacts": _CONTACTS,
    "contacts.read_only": frozenset(("contacts.read",)),
}
ALL_PERMISSIONS = frozenset().union(*SCOPES.values())
# Scopes as a client may ask for them (`_names`): known names, separated by commas or spaces.
_ONE = "(" + "|".join(re.escape(name) for name in SCOPES) + ")"
SCOPES_PATTERN = f"^[\\s,]*({_ONE}[\\s,]+)*{_ONE}?[\\s,]*$"

# Delta object type → the permission needed to see it (types not listed: always shown).
_DELTA_TYPES = {
    "message": "mail.read",
    "thread": "mail.read",
    "draft": "drafts.read",
    "file": "files.read",
    "folder": "folders.read",
    "label": "folders.read",
    "calendar": "calendar.read",
    "event": "calendar.read",
    "contact": "contacts.read",
}

_READS = ("GET", "HEAD")


def required_permission(method: str, path: str) -> str | None:
    """The permission `method path` needs; None if any token may make the request,
    `"*"` for an account route this table does not know (only full tokens may use it)."""
    segment = path.strip("/").split("/", 1)[0]
    if segment not in _AREAS:
        return "*"
    area = _AREAS[segment]
    if area is None:
        return None
    if area == "send":
        return "send"
    if method in _READS or path.rstrip("/") in _POST_READS:
        return f"{area}.read"
    if area == "files" and method == "POST":
        return "files.upload"
    return f"{area}.write"


def _names(scopes: str) -> tuple[str, ...]:
    """Scopes as requested or stored: comma-separated, spaces tolerated, case ignored."""
    return tuple(dict.fromkeys(s for s in re.split(r"[\s,]+", scopes.lower()) if s))


def scope_error(scopes: str) -> str | None:
    """Why `scopes` can't be granted, or None. Asking for a scope this engine does not know
    (`email.metadata` among them) is an error rather than a token that silently lacks it."""
    unknown = [name for name in _names(scopes) if name not in SCOPES]
    if not unknown:
        return None
    return f"Unknown or unsupported scopes: {', '.join(unknown)} (known: {', '.join(SCOPES)})."


@dataclass(frozen=True)
class Grants:
    """What one token may do: its scopes as issued, and the permissions they add up to."""

    scopes: tuple[str, ...]
    permissions: frozenset[str]

    @classmethod
    def parse(cls, scopes: str) -> Grants:
        """Scopes as stored (comma-separated; spaces tolerated). Unknown scopes grant nothing."""
        names = _names(scopes)
        permissions = frozenset().union(*(SCOPES.get(name, frozenset()) for name in names))
        return cls(names, permissions)

    @property
    def full(self) -> bool:
        return self.permissions >= ALL_PERMISSIONS

    def allows(self, permission: str | None) -> bool:
        return permission is None or self.full or permission in self.permissions

    def require(self, method: str, route: str, path: str) -> None:
        """Forbidden unless these grants cover `method` on the route whose template is
        `route` (`path`: the path as requested, for the message)."""
        permission = required_permission(method, route)
        if self.allows(permission):
            return
        needed = [name for name, granted in SCOPES.items() if permission in granted]
        if permission == "*":
            needed = ["email", "calendar", "contacts"]
            want = f"all of: {', '.join(needed)}"
        else:
            want = f"one of: {', '.join(needed)}"
        raise Forbidden(
            f"This access token's scopes ({','.join(self.scopes) or 'none'}) do not allow "
            f"{method} {path}. It needs {want}."
        )

    def hidden_delta_types(self) -> frozenset[str]:
        """The delta object types this token may not read."""
        return frozenset(t for t, need in _DELTA_TYPES.items() if not self.allows(need))


FULL = Grants(("email", "calendar", "contacts"), ALL_PERMISSIONS)
