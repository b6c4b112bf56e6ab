"""Threads, messages, drafts, files, folders and labels (docs/protocol.md §5-§10)."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import ConfigDict, Field

from nylas_engine.api.schemas.common import (
    ID_PATTERN,
    NOT_BLANK,
    Input,
    Metadata,
    NameEmail,
    Open,
    Text,
)


class CategoryRef(Open):
    """A folder or label as a message or thread names it."""

    id: str
    name: str | None = None
    display_name: str


class Category(CategoryRef):
    object: str
    account_id: str


class FileInfo(Open):
    id: str
    content_type: str | None = None
    size: int | None = None
    filename: str | None = None


class File(FileInfo):
    object: str
    account_id: str
    content_id: str | None = None
    message_ids: list[str] | None = None


class Message(Open):
    id: str
    object: str
    account_id: str
    thread_id: str | None = None
    subject: str | None = None
    from_: list[NameEmail] = Field(alias="from")
    reply_to: list[NameEmail]
    to: list[NameEmail]
    cc: list[NameEmail]
    bcc: list[NameEmail]
    date: int | None = None
    snippet: str | None = None
    body: str | None = None
    unread: bool
    starred: bool
    files: list[FileInfo]
    events: list[Any] | None = None
    folder: CategoryRef | None = None
    labels: list[CategoryRef] | None = None
    version: int | None = None
    metadata: dict[str, Any] | None = None


class Thread(Open):
    id: str
    object: str
    account_id: str
    subject: str | None = None
    participants: list[NameEmail]
    last_message_timestamp: int | None = None
    last_message_received_timestamp: int | None = None
    last_message_sent_timestamp: int | None = None
    first_message_timestamp: int | None = None
    snippet: str | None = None
    unread: bool
    starred: bool
    has_attachments: bool
    version: int
    message_ids: list[str] | None = None
    draft_ids: list[str] | None = None
    messages: list[Message] | None = None
    drafts: list[Message] | None = None
    folders: list[CategoryRef] | None = None
    labels: list[CategoryRef] | None = None


class FlagsUpdate(Input):
    """PUT/PATCH of a thread or message: flags and where it is filed."""

    nullable: ClassVar[tuple[str, ...]] = ("unread", "starred")
    unread: bool | None = None
    starred: bool | None = None
    folder_id: str | None = Field(None, pattern=ID_PATTERN)
    label_ids: list[Annotated[str, Field(pattern=ID_PATTERN)]] | None = Field(None, min_length=1)


class MessageUpdate(FlagsUpdate):
    nullable: ClassVar[tuple[str, ...]] = ("unread", "starred", "metadata")
    metadata: Metadata | None = None


class ThreadUpdate(FlagsUpdate):
    """A thread takes these fields only (and the older `folder` and `labels` spellings)."""

    model_config = ConfigDict(extra="forbid")
    folder: str | None = Field(None, pattern=ID_PATTERN)
    labels: list[Annotated[str, Field(pattern=ID_PATTERN)]] | None = Field(None, min_length=1)


class DraftInput(Input):
    """A draft to save (POST/PUT /drafts) or to send inline (POST /send)."""

    nullable: ClassVar[tuple[str, ...]] = (
        "subject", "body", "to", "cc", "bcc", "from", "reply_to", "reply_to_message_id",
        "file_ids", "metadata", "draft_id", "tracking",
    )  # fmt: skip

    subject: Text | None = None
    body: Text | None = None
    to: list[NameEmail] | None = None
    cc: list[NameEmail] | None = None
    bcc: list[NameEmail] | None = None
    from_: list[NameEmail] | None = Field(None, alias="from", max_length=1)
    reply_to: list[NameEmail] | None = Field(None, max_length=1)
    reply_to_message_id: Text | None = None
    file_ids: list[Text] | None = None
    metadata: Metadata | None = None


# A draft's version: a number, or its digits as a string (as the old engine took it).
Version = Annotated[int, Field(ge=0)] | Annotated[str, Field(pattern="^[0-9]{1,18}$")]


class DraftUpdate(DraftInput):
    """PUT/PATCH /drafts/{id}: the changes and the version they were made on."""

    version: Version


class SendInput(DraftInput):
    """POST /send: `draft_id` (and `version`) of a saved draft, or a draft given inline."""

    draft_id: str | None = Field(None, pattern=ID_PATTERN)
    version: Version | None = None
    tracking: dict[str, Any] | None = None


class DraftVersion(Input):
    version: Version | None = None


class CategoryInput(Input):
    """PUT/PATCH and POST /folders, /labels: the new display name (unique in the account)."""

    display_name: str = Field(max_length=191, pattern=NOT_BLANK)
