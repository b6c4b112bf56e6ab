"""Calendars, events, availability, contacts, resources (docs/protocol.md §11-§14)."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, WithJsonSchema

from nylas_engine.api.schemas.common import ID_PATTERN, NOT_BLANK, Input, Metadata, Open, Text
from nylas_engine.api.views.contacts import ADDRESS_KEYS
from nylas_engine.calendar.reminders import MAX_MINUTES, MINUTES_PATTERN


class Calendar(Open):
    id: str
    object: str
    account_id: str
    name: str | None = None
    description: str | None = None
    read_only: bool
    is_primary: bool | None = None
    location: str | None = None
    timezone: str | None = None
    metadata: dict[str, Any] | None = None


class CalendarInput(Input):
    nullable: ClassVar[tuple[str, ...]] = ("description", "location", "timezone", "metadata")
    name: Text | None = None
    description: Text | None = None
    location: Text | None = None
    timezone: Text | None = None
    metadata: Metadata | None = None


class CalendarCreate(CalendarInput):
    """POST /calendars: a name is needed."""

    name: Text


Email = Annotated[str, Field(json_schema_extra={"format": "email"})]


class Participant(Input):
    nullable: ClassVar[tuple[str, ...]] = ("name", "status", "comment", "phone_number")
    name: Text | None = None
    email: Email
    status: Literal["yes", "no", "maybe", "noreply"] | None = None
    comment: Text | None = None
    phone_number: Text | None = None


class Reminders(Input):
    """One reminder, as hosted v2 shows it (null clears the event's reminders)."""

    nullable: ClassVar[tuple[str, ...]] = ("reminder_method",)
    reminder_minutes: (
        Annotated[str, Field(pattern=MINUTES_PATTERN)] | Annotated[int, Field(ge=0, le=MAX_MINUTES)]
    )
    reminder_method: Literal["popup", "display", "sound", "email"] | None = None


class Event(Open):
    id: str
    object: str
    account_id: str
    calendar_id: str
    title: str | None = None
    description: str | None = None
    owner: str | None = None
    participants: list[Participant]
    read_only: bool
    location: str | None = None
    when: dict[str, Any]
    busy: bool
    status: str | None = None
    reminders: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None


class EventInput(Input):
    """PUT/PATCH /events/{id}; `when` is one of {time}, {start_time, end_time}, {date},
    {start_date, end_date}, with optional time zones (docs/protocol.md §12)."""

    nullable: ClassVar[tuple[str, ...]] = (
        "description",
        "location",
        "busy",
        "participants",
        "when",
        "reminders",
        "metadata",
    )
    # No calendar_id: an event stays in its calendar; SDKs send the whole object back, so
    # the one they send is ignored, whatever it holds.
    title: Text | None = None
    description: Text | None = None
    location: Text | None = None
    when: dict[str, Any] | None = None
    busy: bool | None = None
    participants: list[Participant] | None = None
    reminders: Reminders | None = None
    metadata: Metadata | None = None


class EventCreate(EventInput):
    """POST /events, /events/to-ics: the calendar and the time are needed."""

    nullable: ClassVar[tuple[str, ...]] = ("description", "location", "participants", "metadata")

    calendar_id: str = Field(pattern=ID_PATTERN)
    when: dict[str, Any]


class Contact(Open):
    id: str
    object: str
    account_id: str
    given_name: str | None = None
    surname: str | None = None
    emails: list[dict[str, Any]] | None = None
    phone_numbers: list[dict[str, Any]] | None = None


def _items(key: str | None) -> WithJsonSchema:
    """An entry of a contact's list: its type, and its value under `key` (or an address)."""
    props: dict[str, Any] = {"type": {"type": ["string", "null"], "maxLength": 255}}
    if key is None:
        text = {"type": ["string", "null"], "maxLength": 1024}
        props |= dict.fromkeys(ADDRESS_KEYS, text)
        schema = {"type": "object", "properties": props}
    else:
        value = {"type": "string", "maxLength": 1024, "pattern": NOT_BLANK}
        props[key] = {**value, "format": "email"} if key == "email" else value
        schema = {"type": "object", "properties": props, "required": [key]}
    return WithJsonSchema({"type": ["array", "null"], "items": schema, "maxItems": 100})


Items = list[dict[str, Any]] | None


class ContactInput(Input):
    nullable: ClassVar[tuple[str, ...]] = (
        "given_name", "middle_name", "surname", "nickname", "company_name", "job_title",
        "notes", "emails", "phone_numbers", "im_addresses", "web_pages", "physical_addresses",
    )  # fmt: skip
    given_name: Text | None = None
    middle_name: Text | None = None
    surname: Text | None = None
    nickname: Text | None = None
    company_name: Text | None = None
    job_title: Text | None = None
    notes: Text | None = None
    emails: Annotated[Items, _items("email")] = None
    phone_numbers: Annotated[Items, _items("number")] = None
    im_addresses: Annotated[Items, _items("im_address")] = None
    web_pages: Annotated[Items, _items("url")] = None
    physical_addresses: Annotated[Items, _items(None)] = None


class Resource(Open):
    object: str
    email: str | None = None
    name: str | None = None


class RsvpInput(Input):
    event_id: str = Field(pattern=ID_PATTERN)
    status: Literal["yes", "no", "maybe"]
    account_id: Text | None = None
    comment: Text | None = None


class FreeBusyInput(Input):
    start_time: int
    end_time: int
    emails: list[Email] = Field(min_length=1)


class AvailabilityInput(Input):
    nullable: ClassVar[tuple[str, ...]] = ("free_busy", "open_hours")
    start_time: int
    end_time: int
    duration_minutes: int
    interval_minutes: int
    emails: list[Email] | None = None
    free_busy: list[dict[str, Any]] | None = None
    open_hours: list[dict[str, Any]] | None = None


class ConsecutiveInput(AvailabilityInput):
    """POST /calendars/availability/consecutive: `emails` is a list of groups."""

    emails: list[Annotated[list[Email], Field(min_length=1)]] | None = None  # type: ignore[assignment]
