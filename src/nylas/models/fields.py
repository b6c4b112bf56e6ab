"""Attribute definitions of every model (docs/protocol.md §5-§13), shared by sync and async.

These classes carry no I/O: `nylas._async.models` (and its generated twin `nylas._sync.models`)
adds the methods that talk to the server.
"""

from __future__ import annotations

from typing import Any, ClassVar, TypedDict

from nylas.models._base import ModelData


class Participant(TypedDict, total=False):
    name: str
    email: str


class EventParticipant(Participant, total=False):
    status: str
    comment: str | None


class CategoryRef(TypedDict, total=False):
    id: str
    name: str | None
    display_name: str


class FileRef(TypedDict, total=False):
    id: str
    content_type: str | None
    size: int
    filename: str | None
    content_id: str


class AccountFields(ModelData):
    _object_type = "account"
    _path = "/accounts"
    _aliases: ClassVar[dict[str, str]] = {"sync_status": "sync_state", "trial_expires": "trial"}

    email_address: str | None
    name: str | None
    provider: str | None
    organization_unit: str | None
    sync_state: str | None
    linked_at: int | None
    billing_state: str | None
    trial: bool | None
    server_settings: dict[str, Any] | None
    # The app-level (management) shape says `email` and adds these:
    email: str | None
    namespace_id: str | None
    authentication_type: str | None
    metadata: dict[str, Any] | None


class ThreadFields(ModelData):
    _object_type = "thread"
    _path = "/threads"
    # An expanded thread embeds its messages; `thread.messages` stays the query.
    _renamed: ClassVar[dict[str, str]] = {
        "messages": "expanded_messages",
        "drafts": "expanded_drafts",
    }

    subject: str | None
    participants: list[Participant] | None
    last_message_timestamp: int | None
    last_message_received_timestamp: int | None
    last_message_sent_timestamp: int | None
    first_message_timestamp: int | None
    snippet: str | None
    unread: bool | None
    starred: bool | None
    has_attachments: bool | None
    version: int | None
    folders: list[CategoryRef] | None
    labels: list[CategoryRef] | None
    message_ids: list[str] | None
    draft_ids: list[str] | None
    expanded_messages: list[dict[str, Any]] | None
    expanded_drafts: list[dict[str, Any]] | None
    metadata: dict[str, Any] | None


class MessageFields(ModelData):
    _object_type = "message"
    _path = "/messages"

    thread_id: str | None
    subject: str | None
    from_: list[Participant] | None
    reply_to: list[Participant] | None
    to: list[Participant] | None
    cc: list[Participant] | None
    bcc: list[Participant] | None
    date: int | None
    snippet: str | None
    body: str | None
    unread: bool | None
    starred: bool | None
    files: list[FileRef] | None
    events: list[dict[str, Any]] | None
    folder: CategoryRef | None
    labels: list[CategoryRef] | None
    headers: dict[str, Any] | None
    metadata: dict[str, Any] | None


class DraftFields(MessageFields):
    _object_type = "draft"
    _path = "/drafts"
    _server_owned = MessageFields._server_owned | {"files", "snippet", "date", "thread"}

    version: int | None
    reply_to_message_id: str | None
    file_ids: list[str] | None
    tracking: dict[str, Any] | None

    def _load(self, data: dict[str, Any]) -> None:
        super()._load(data)
        files = data.get("files")
        if "file_ids" not in data and isinstance(files, list):
            self.__dict__["file_ids"] = [f["id"] for f in files if isinstance(f, dict)]


class FileFields(ModelData):
    _object_type = "file"
    _path = "/files"
    _local_only = frozenset({"data"})

    content_type: str | None
    size: int | None
    filename: str | None
    message_ids: list[str] | None
    content_id: str | None
    content_disposition: str | None
    # What `save()` uploads: `data` (str or bytes) or `stream` (see File.stream).
    data: str | bytes | None


class CategoryFields(ModelData):
    name: str | None
    display_name: str | None


class FolderFields(CategoryFields):
    _object_type = "folder"
    _path = "/folders"


class LabelFields(CategoryFields):
    _object_type = "label"
    _path = "/labels"


class CalendarFields(ModelData):
    _object_type = "calendar"
    _path = "/calendars"

    name: str | None
    description: str | None
    read_only: bool | None
    is_primary: bool | None
    location: str | None
    timezone: str | None
    hex_color: str | None
    metadata: dict[str, Any] | None


class EventFields(ModelData):
    _object_type = "event"
    _path = "/events"
    _server_owned = ModelData._server_owned | {
        "owner",
        "status",
        "read_only",
        "master_event_id",
        "original_start_time",
    }

    calendar_id: str | None
    message_id: str | None
    title: str | None
    description: str | None
    owner: str | None
    participants: list[EventParticipant] | None
    location: str | None
    when: dict[str, Any] | None
    busy: bool | None
    status: str | None
    recurrence: dict[str, Any] | None
    original_start_time: int | None
    master_event_id: str | None
    ical_uid: str | None
    conferencing: dict[str, Any] | None
    reminders: dict[str, Any] | None
    metadata: dict[str, Any] | None

    def as_json(self) -> dict[str, Any]:
        body = super().as_json()
        # Updates strip participant status, as SDKs always did (the server keeps RSVPs).
        if self.__dict__.get("id") and isinstance(body.get("participants"), list):
            body["participants"] = [
                {k: v for k, v in p.items() if k != "status"} if isinstance(p, dict) else p
                for p in body["participants"]
            ]
        return body


class ContactFields(ModelData):
    _object_type = "contact"
    _path = "/contacts"
    _server_owned = ModelData._server_owned | {"picture_url"}

    given_name: str | None
    middle_name: str | None
    surname: str | None
    suffix: str | None
    nickname: str | None
    birthday: str | None
    company_name: str | None
    job_title: str | None
    manager_name: str | None
    office_location: str | None
    notes: str | None
    picture_url: str | None
    source: str | None
    emails: list[dict[str, Any]] | None
    im_addresses: list[dict[str, Any]] | None
    physical_addresses: list[dict[str, Any]] | None
    phone_numbers: list[dict[str, Any]] | None
    web_pages: list[dict[str, Any]] | None
    groups: list[dict[str, Any]] | None
    # The open-source engine's short shape:
    name: str | None
    email: str | None


class WebhookFields(ModelData):
    _object_type = "webhook"
    _path = "/webhooks"  # under /a/{app_id}

    application_id: str | None
    callback_url: str | None
    state: str | None
    triggers: list[str] | None
    version: int | None


class JobStatusFields(ModelData):
    """A job's progress (`/job-statuses`): for an outbox message, `action` "outbox"."""

    _object_type = "job_status"
    _path = "/job-statuses"

    action: str | None
    status: str | None
    created_at: int | None
    send_at: int | None
    original_send_at: int | None
    message_id: str | None
    thread_id: str | None
    original_data: dict[str, Any] | None
    metadata: dict[str, Any] | None


class OutboxJobFields(ModelData):
    """A message scheduled in the outbox (`/v2/outbox`), known by its `job_status_id`."""

    _object_type = "outbox"
    _path = "/v2/outbox"

    status: str | None
    send_at: int | None
    original_send_at: int | None
    message_id: str | None
    thread_id: str | None
    original_data: dict[str, Any] | None


class RoomResourceFields(ModelData):
    """A meeting room (`/resources`); capacity and floor number come as strings."""

    _object_type = "room_resource"
    _path = "/resources"

    email: str | None
    name: str | None
    capacity: str | None
    building: str | None
    floor_name: str | None
    floor_number: str | None
