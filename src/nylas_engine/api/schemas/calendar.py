"""Calendars, events, availability, contacts, resources (docs/protocol.md §11-§14)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from nylas_engine.api.schemas.common import ID_PATTERN, Input, Metadata, Open, Text


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
    name: Text | None = None
    description: Text | None = None
    location: Text | None = None
    timezone: Text | None = None
    metadata: Metadata | None = None


class CalendarCreate(CalendarInput):
    """POST /calendars: a name is needed."""

    name: Text


class Participant(Input):
    name: Text | None = None
    email: str
    status: Text | None = None
    comment: Text | None = None


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
    calendar_id: Text | None = None
    title: Text | None = None
    description: Text | None = None
    location: Text | None = None
    when: dict[str, Any] | None = None
    busy: bool | None = None
    participants: list[Participant] | None = None
    reminders: dict[str, Any] | None = None
    metadata: Metadata | None = None


class Contact(Open):
    id: str
    object: str
    account_id: str
    given_name: str | None = None
    surname: str | None = None
    emails: list[dict[str, Any]] | None = None
    phone_numbers: list[dict[str, Any]] | None = None


class ContactInput(Input):
    given_name: Text | None = None
    middle_name: Text | None = None
    surname: Text | None = None
    nickname: Text | None = None
    company_name: Text | None = None
    job_title: Text | None = None
    notes: Text | None = None
    emails: list[dict[str, Any]] | None = None
    phone_numbers: list[dict[str, Any]] | None = None


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
    start_time: int | None = None
    end_time: int | None = None
    emails: list[str] | None = None


class AvailabilityInput(Input):
    start_time: int | None = None
    end_time: int | None = None
    duration_minutes: int | None = None
    interval_minutes: int | None = None
    emails: list[str] | None = None
    free_busy: list[dict[str, Any]] | None = None
    open_hours: list[dict[str, Any]] | None = None
