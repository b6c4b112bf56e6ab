"""JSON views of calendars and events (docs/protocol.md §12), and the calendar fields a client
writes."""

from __future__ import annotations

from typing import Any

from nylas_engine.calendar.when import InvalidInput, is_time_zone
from nylas_engine.metadata import optional_metadata
from nylas_engine.store.calendar import Instance, Refs
from nylas_engine.store.models import Account, Calendar, Event

CALENDAR_FIELDS = {"name": 255, "description": 65536, "location": 255, "timezone": 64}


def calendar_json(calendar: Calendar, account: Account) -> dict[str, Any]:
    return {
        "id": calendar.public_id,
        "object": "calendar",
        "account_id": account.public_id,
        "name": calendar.name,
        "description": calendar.description,
        "read_only": calendar.read_only,
        "is_primary": calendar.is_primary,
        "location": calendar.location,
        "timezone": calendar.timezone,
        "metadata": calendar.metadata_ or {},
    }


def calendar_fields(body: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    """The writable calendar fields in `body` (others are ignored), type-checked."""
    if creating and not isinstance(body.get("name"), str):
        raise InvalidInput("'name' is required and must be a string.")
    fields: dict[str, Any] = {}
    for name, limit in CALENDAR_FIELDS.items():
        if name not in body:
            continue
        value = body[name]
        # The Node SDK 6 sends `"timezone": ""` for a calendar built without one.
        if (value is None and name != "name") or (value == "" and name == "timezone"):
            fields[name] = None
            continue
        if not isinstance(value, str):
            raise InvalidInput(f"'{name}' must be a string.")
        if len(value) > limit:
            raise InvalidInput(f"'{name}' is longer than {limit} characters.")
        if name == "timezone" and not is_time_zone(value):
            raise InvalidInput("'timezone' must be an IANA time zone name such as 'Europe/Paris'.")
        fields[name] = value
    metadata = optional_metadata(body)
    if metadata is not None:
        fields["metadata_"] = metadata
    return fields


def event_json(event: Event, account: Account, refs: Refs) -> dict[str, Any]:
    calendar = event.calendar
    data: dict[str, Any] = {
        "id": event.public_id,
        "object": "event",
        "account_id": account.public_id,
        "calendar_id": calendar.public_id,
        "message_id": refs.messages.get(event.message_id) if event.message_id else None,
        "ical_uid": event.ical_uid,
        "title": event.title,
        "description": event.description,
        "owner": event.owner,
        "participants": [participant_json(p) for p in event.participants or []],
        "read_only": bool(event.read_only or calendar.read_only),
        "location": event.location,
        "when": dict(event.when),
        "busy": event.busy,
        "status": event.status,
        "metadata": event.metadata_ or {},
    }
    if event.reminders is not None:
        data["reminders"] = event.reminders
    if event.recurrence is not None and event.master_event_id is None:
        data["recurrence"] = event.recurrence
    if event.master_event_id is not None:
        data["master_event_id"] = refs.masters.get(event.master_event_id)
        data["original_start_time"] = event.original_start_time
    return data


def instance_json(instance: Instance, account: Account) -> dict[str, Any]:
    """An expanded occurrence: the master's fields at the instance's time, read-only, and with
    no `message_id` key (docs/protocol.md §12)."""
    master = instance.master
    data = event_json(master, account, Refs())
    del data["message_id"]
    data.pop("recurrence", None)
    data.update(
        {
            "id": instance.id,
            "when": instance.when.data,
            "read_only": True,
            "master_event_id": master.public_id,
            "original_start_time": instance.original_start,
        }
    )
    return data


def participant_json(participant: dict[str, Any]) -> dict[str, Any]:
    data = {
        "name": participant.get("name"),
        "email": participant.get("email"),
        "status": participant.get("status") or "noreply",
        "comment": participant.get("comment"),
    }
    if participant.get("phone_number") is not None:
        data["phone_number"] = participant["phone_number"]
    return data
