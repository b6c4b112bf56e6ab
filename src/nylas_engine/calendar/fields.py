"""What a client may write on an event (docs/protocol.md §12 POST/PUT), checked field by field.

`event_changes(body, creating=...)` returns the column values to set; anything it does not know
is ignored, because SDKs send back whole objects (read-only keys included).
"""

from __future__ import annotations

import re
from email.utils import parseaddr
from typing import Any

from nylas_engine.calendar.reminders import parse_reminders
from nylas_engine.calendar.when import InvalidInput, parse_when
from nylas_engine.metadata import optional_metadata

STATUSES = ("yes", "no", "maybe", "noreply")
MAX_PARTICIPANTS = 500


def event_changes(body: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    """Validated values for title, description, location, busy, participants, when, reminders,
    metadata.

    `when` comes back as a `When` (its time range fills start_ts/end_ts)."""
    changes: dict[str, Any] = {}
    if creating:
        if body.get("when") is None:
            raise InvalidInput("Must specify 'when' when creating an event.")
        changes["title"] = ""
    if "title" in body:
        changes["title"] = _text("title", body["title"], nullable=False)
    for name in ("description", "location"):
        if name in body:
            changes[name] = _text(name, body[name], nullable=True)
    if "busy" in body and (body["busy"] is not None or creating):
        if not isinstance(body["busy"], bool):
            raise InvalidInput("'busy' must be true or false.")
        changes["busy"] = body["busy"]
    if "participants" in body:
        changes["participants"] = parse_participants(body["participants"])
    if body.get("when") is not None:
        changes["when"] = parse_when(body["when"])
    if "reminders" in body:
        changes["reminders"] = parse_reminders(body["reminders"])
    metadata = optional_metadata(body)
    if metadata is not None:
        changes["metadata_"] = metadata
    return changes


def parse_participants(raw: Any) -> list[dict[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(p, dict) for p in raw):
        raise InvalidInput("'participants' must be a list of objects.")
    if len(raw) > MAX_PARTICIPANTS:
        raise InvalidInput(f"An event can have at most {MAX_PARTICIPANTS} participants.")
    result = []
    for item in raw:
        email = item.get("email")
        if not isinstance(email, str) or not is_email(email):
            raise InvalidInput(f"Invalid participant email: {email!r}")
        status = item.get("status") or "noreply"
        if status not in STATUSES:
            raise InvalidInput(
                f"Invalid participant status {status!r}: expected yes, no, maybe or noreply."
            )
        participant: dict[str, Any] = {
            "name": _text("participants.name", item.get("name"), nullable=True),
            "email": email.strip().lower(),
            "status": status,
            "comment": _text("participants.comment", item.get("comment"), nullable=True),
        }
        if item.get("phone_number") is not None:
            participant["phone_number"] = _text(
                "participants.phone_number", item["phone_number"], nullable=False
            )
        result.append(participant)
    return result


# A domain: dot-separated labels of letters, digits, hyphens, underscores (internationalized names
# included), or an address literal such as [192.0.2.1].
_DOMAIN = re.compile(r"[\w-]+(?:\.[\w-]+)*|\[[\w:.]+\]")


def is_email(value: str) -> bool:
    address = parseaddr(value)[1]
    local, at, domain = address.rpartition("@")
    return (
        bool(local and at and _DOMAIN.fullmatch(domain))
        and address == value.strip()
        and " " not in address
    )


def _text(name: str, value: Any, *, nullable: bool) -> Any:
    if value is None and nullable:
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"'{name}' must be a string.")
    if len(value) > 65536:
        raise InvalidInput(f"'{name}' is too long.")
    return value
