"""The engine's tables (SQLAlchemy 2). Portable SQL only: SQLite by default, PostgreSQL when asked.

Every account-owned row carries `account_id`; every query in `store/` filters on it.
Objects visible through the API carry a `public_id` (base-36, see ids.py); integer `id`s never
leave the engine. Rows that clients can delete are soft-deleted (`deleted_at`) so that delta
can report the deletion.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from nylas_engine.ids import new_public_id


def now() -> int:
    return int(time.time())


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class PublicIdMixin:
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True, default=new_public_id)


# ---------------------------------------------------------------------------------- apps, auth


class App(Base):
    """An OAuth application (client id + hashed client secret)."""

    __tablename__ = "apps"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True, default=new_public_id)
    secret_hash: Mapped[str] = mapped_column(String(128))
    # The secret itself, encrypted with the engine key (store.credentials): webhook
    # notifications are signed with it. Set when the app is created or next authenticates.
    sealed_secret: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    icon_url: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    redirect_uris: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)


class Account(PublicIdMixin, Base):
    __tablename__ = "accounts"
    email_address: Mapped[str] = mapped_column(String(255), index=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    provider: Mapped[str] = mapped_column(String(32), default="custom")
    organization_unit: Mapped[str] = mapped_column(String(16), default="folder")
    sync_state: Mapped[str] = mapped_column(String(32), default="running")
    sync_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    sync_progress: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    billing_state: Mapped[str] = mapped_column(String(32), default="paid")
    trial: Mapped[bool] = mapped_column(Boolean, default=False)
    # Local login for the /oauth/authorize consent page (hashed, never returned).
    password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # Mail servers (issue 4 fills these; the credentials blob is encrypted at rest).
    imap_host: Mapped[str | None] = mapped_column(String(255), nullable=True)
    imap_port: Mapped[int | None] = mapped_column(Integer, nullable=True)
    imap_username: Mapped[str | None] = mapped_column(String(255), nullable=True)
    smtp_host: Mapped[str | None] = mapped_column(String(255), nullable=True)
    smtp_port: Mapped[int | None] = mapped_column(Integer, nullable=True)
    smtp_username: Mapped[str | None] = mapped_column(String(255), nullable=True)
    security: Mapped[str] = mapped_column(String(16), default="plain")  # tls|starttls|plain
    # SMTP's security where it differs from IMAP's (Microsoft 365: STARTTLS on 587).
    smtp_security: Mapped[str | None] = mapped_column(String(16), nullable=True)
    credentials: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    # The mail hosts were a caller's choice (POST /connect/authorize in token mode): every
    # connection checks again what they resolve to (sync/hosts.py), not only the first.
    hosts_checked: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)
    deleted_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class AccessToken(Base):
    """An issued access token, stored as its SHA-256 (looked up by hash, never by value)."""

    __tablename__ = "access_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    app_id: Mapped[int | None] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    scopes: Mapped[str] = mapped_column(String(255), default="email,calendar,contacts")
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)
    updated_at: Mapped[int] = mapped_column(BigInteger, default=now)
    revoked_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    account: Mapped[Account] = relationship(lazy="joined")


class AuthCode(Base):
    """A one-time OAuth authorization code (hashed), exchanged at /oauth/token."""

    __tablename__ = "auth_codes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    redirect_uri: Mapped[str] = mapped_column(String(2048), default="")
    scopes: Mapped[str] = mapped_column(String(255), default="email,calendar,contacts")
    expires_at: Mapped[int] = mapped_column(BigInteger)
    used: Mapped[bool] = mapped_column(Boolean, default=False)
    # The AccessToken it was exchanged for (no foreign key: a plain reference kept for
    # revoking it if the code is presented again).
    token_id: Mapped[int | None] = mapped_column(Integer, nullable=True)


# ---------------------------------------------------------------------------------- mail


message_categories = Table(
    "message_categories",
    Base.metadata,
    Column("message_id", ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True),
    Column("category_id", ForeignKey("categories.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_message_categories_category", "category_id"),
)


class Category(PublicIdMixin, Base):
    """A folder or a label (`type`), with its canonical role in `name` (inbox, sent, ...)."""

    __tablename__ = "categories"
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(8), default="folder")  # folder | label
    name: Mapped[str | None] = mapped_column(String(32), nullable=True)  # role
    display_name: Mapped[str] = mapped_column(String(255))
    remote_name: Mapped[str | None] = mapped_column(String(1024), nullable=True)  # IMAP path
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    highestmodseq: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    uidnext: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)
    deleted_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    __table_args__ = (Index("ix_categories_account", "account_id", "type"),)


class Thread(PublicIdMixin, Base):
    __tablename__ = "threads"
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    subject: Mapped[str | None] = mapped_column(Text, nullable=True)
    # normalize_subject(subject) cut to 255: what threading by subject looks threads up by
    subject_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    first_message_ts: Mapped[int] = mapped_column(BigInteger, default=0)
    last_message_ts: Mapped[int] = mapped_column(BigInteger, default=0)
    last_received_ts: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    last_sent_ts: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)
    deleted_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # Gmail's X-GM-THRID: its messages are the ones Gmail threads together (sync/gmail.py).
    gm_thrid: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # Loaded on access only: pages of threads render from `ThreadSummary`, and the few
    # writers that walk a thread's messages ask for them (store/loading.py).
    messages: Mapped[list[Message]] = relationship(back_populates="thread", order_by="Message.date")
    __table_args__ = (
        Index("ix_threads_account_last", "account_id", "last_message_ts"),
        Index("ix_threads_subject", "account_id", "subject_key"),
        Index("ix_threads_gm_thrid", "account_id", "gm_thrid"),
    )


class ThreadSummary(Base):
    """What a thread shows in a list, kept as its messages change (store/thread_summary.py):
    its aggregates over live messages, the ids of its messages and drafts (date order) and
    the ids of the categories they carry (first-seen order, deleted ones included; the view
    leaves those out). Never written through the unit of work: Core statements only."""

    __tablename__ = "thread_summaries"
    thread_id: Mapped[int] = mapped_column(
        ForeignKey("threads.id", ondelete="CASCADE"), primary_key=True
    )
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    unread: Mapped[bool] = mapped_column(Boolean, default=False)
    starred: Mapped[bool] = mapped_column(Boolean, default=False)
    has_attachments: Mapped[bool] = mapped_column(Boolean, default=False)
    snippet: Mapped[str] = mapped_column(String(191), default="")
    participants: Mapped[list[Any]] = mapped_column(JSON, default=list)
    message_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    draft_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    category_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    __table_args__ = (Index("ix_thread_summaries_account", "account_id", "unread"),)


class Message(PublicIdMixin, Base):
    """A message or a draft (`is_draft`). Drafts keep a `version` for optimistic locking."""

    __tablename__ = "messages"
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    thread_id: Mapped[int | None] = mapped_column(
        ForeignKey("threads.id", ondelete="SET NULL"), nullable=True
    )
    subject: Mapped[str] = mapped_column(Text, default="")
    from_: Mapped[list[Any]] = mapped_column("from_addr", JSON, default=list)
    to: Mapped[list[Any]] = mapped_column("to_addr", JSON, default=list)
    cc: Mapped[list[Any]] = mapped_column("cc_addr", JSON, default=list)
    bcc: Mapped[list[Any]] = mapped_column("bcc_addr", JSON, default=list)
    reply_to: Mapped[list[Any]] = mapped_column("reply_to_addr", JSON, default=list)
    date: Mapped[int] = mapped_column(BigInteger, default=now)
    snippet: Mapped[str] = mapped_column(String(191), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    unread: Mapped[bool] = mapped_column(Boolean, default=True)
    starred: Mapped[bool] = mapped_column(Boolean, default=False)
    is_draft: Mapped[bool] = mapped_column(Boolean, default=False)
    is_sent: Mapped[bool] = mapped_column(Boolean, default=False)  # sent by us (API or Sent)
    version: Mapped[int] = mapped_column(Integer, default=0)
    reply_to_message_id: Mapped[int | None] = mapped_column(
        ForeignKey("messages.id", ondelete="SET NULL"), nullable=True
    )
    message_id_header: Mapped[str | None] = mapped_column(String(998), nullable=True)
    in_reply_to: Mapped[str | None] = mapped_column(String(998), nullable=True)
    references: Mapped[list[Any]] = mapped_column("references_", JSON, default=list)
    raw_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)  # blob key
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    tracking: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)
    updated_at: Mapped[int] = mapped_column(BigInteger, default=now, onupdate=now)
    deleted_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)

    thread: Mapped[Thread | None] = relationship(back_populates="messages", lazy="joined")
    # The message a draft replies to (the view shows it only when it is in the same thread).
    reply_target: Mapped[Message | None] = relationship(
        foreign_keys=[reply_to_message_id], remote_side="Message.id", viewonly=True
    )
    categories: Mapped[list[Category]] = relationship(secondary=message_categories, lazy="selectin")
    attachments: Mapped[list[Attachment]] = relationship(
        back_populates="message", lazy="selectin", cascade="all, delete-orphan"
    )
    # The events its iCalendar invitations brought (see store.calendar.file_invites). Loaded
    # on access: list queries ask for it (`selectinload`); the sync never needs it.
    events: Mapped[list[Event]] = relationship(
        primaryjoin="and_(Event.message_id == Message.id, Event.deleted_at.is_(None))",
        order_by="Event.start_ts",
        viewonly=True,
    )
    __table_args__ = (
        Index("ix_messages_account_date", "account_id", "is_draft", "date"),
        Index("ix_messages_thread", "thread_id"),
        Index("ix_messages_msgid", "account_id", "message_id_header"),
        Index("ix_messages_in_reply_to", "account_id", "in_reply_to"),
    )


class File(PublicIdMixin, Base):
    """An uploaded file or a message attachment; the bytes live in the blob store by SHA-256."""

    __tablename__ = "files"
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    filename: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    content_type: Mapped[str | None] = mapped_column(String(255), nullable=True)
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)
    deleted_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    attachments: Mapped[list[Attachment]] = relationship(back_populates="file", lazy="selectin")
    __table_args__ = (Index("ix_files_account", "account_id"),)


class Attachment(Base):
    """A file as a part of a message (or draft): disposition and Content-ID live here."""

    __tablename__ = "attachments"
    message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True
    )
    file_id: Mapped[int] = mapped_column(
        ForeignKey("files.id", ondelete="CASCADE"), primary_key=True
    )
    content_id: Mapped[str | None] = mapped_column(String(998), nullable=True)
    disposition: Mapped[str] = mapped_column(String(16), default="attachment")  # or inline
    message: Mapped[Message] = relationship(back_populates="attachments")
    file: Mapped[File] = relationship(back_populates="attachments", lazy="joined")
    __table_args__ = (Index("ix_attachments_file", "file_id"),)


class ImapUid(Base):
    """Where a synced message lives on the IMAP server (issue 4): folder + UID + flags."""

    __tablename__ = "imap_uids"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id", ondelete="CASCADE"))
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    uid: Mapped[int] = mapped_column(BigInteger)
    flags: Mapped[list[Any]] = mapped_column(JSON, default=list)
    modseq: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # Gmail (X-GM-EXT-1) only, else NULL: the message's X-GM-MSGID, and its X-GM-LABELS as
    # the server last reported them (what the write-back compares the API's labels with).
    gm_msgid: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    labels: Mapped[list[Any] | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    __table_args__ = (
        UniqueConstraint("category_id", "uid", name="uq_imap_uids_folder_uid"),
        Index("ix_imap_uids_message", "message_id"),
        Index("ix_imap_uids_gm_msgid", "account_id", "gm_msgid"),
    )


# ---------------------------------------------------------------------------------- contacts


class Contact(PublicIdMixin, Base):
    """The hosted v2 contact shape (docs/protocol.md §13); list fields are stored as JSON."""

    __tablename__ = "contacts"
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    given_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    middle_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    surname: Mapped[str | None] = mapped_column(String(255), nullable=True)
    suffix: Mapped[str | None] = mapped_column(String(64), nullable=True)
    nickname: Mapped[str | None] = mapped_column(String(255), nullable=True)
    birthday: Mapped[str | None] = mapped_column(String(10), nullable=True)
    company_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    job_title: Mapped[str | None] = mapped_column(String(255), nullable=True)
    manager_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    office_location: Mapped[str | None] = mapped_column(String(255), nullable=True)
    notes: Mapped[str | None] = mapped_column(Text, nullable=True)
    source: Mapped[str] = mapped_column(String(16), default="address_book")
    emails: Mapped[list[Any]] = mapped_column(JSON, default=list)
    im_addresses: Mapped[list[Any]] = mapped_column(JSON, default=list)
    physical_addresses: Mapped[list[Any]] = mapped_column(JSON, default=list)
    phone_numbers: Mapped[list[Any]] = mapped_column(JSON, default=list)
    web_pages: Mapped[list[Any]] = mapped_column(JSON, default=list)
    groups: Mapped[list[Any]] = mapped_column(JSON, default=list)
    picture_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    picture_content_type: Mapped[str | None] = mapped_column(String(255), nullable=True)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)
    deleted_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    __table_args__ = (Index("ix_contacts_account", "account_id"),)


# ---------------------------------------------------------------------------------- calendar


class Calendar(PublicIdMixin, Base):
    __tablename__ = "calendars"
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255), default="")
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    location: Mapped[str | None] = mapped_column(String(255), nullable=True)
    timezone: Mapped[str | None] = mapped_column(String(64), nullable=True)
    read_only: Mapped[bool] = mapped_column(Boolean, default=False)
    is_primary: Mapped[bool] = mapped_column(Boolean, default=False)
    # The column migration 0008 added to existing calendars, with its default for their rows.
    metadata_: Mapped[dict[str, Any]] = mapped_column(
        "metadata", JSON, default=dict, server_default=text("'{}'")
    )
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)
    deleted_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class Event(PublicIdMixin, Base):
    """An event; `when` is kept as sent, `start_ts`/`end_ts` are derived for filters and order."""

    __tablename__ = "events"
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    calendar_id: Mapped[int] = mapped_column(ForeignKey("calendars.id", ondelete="CASCADE"))
    message_id: Mapped[int | None] = mapped_column(
        ForeignKey("messages.id", ondelete="SET NULL"), nullable=True
    )
    ical_uid: Mapped[str | None] = mapped_column(String(998), nullable=True)
    # iCalendar SEQUENCE: raised by each update whose invitations are emailed.
    sequence: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    title: Mapped[str] = mapped_column(Text, default="")
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    location: Mapped[str | None] = mapped_column(Text, nullable=True)
    owner: Mapped[str | None] = mapped_column(String(512), nullable=True)
    participants: Mapped[list[Any]] = mapped_column(JSON, default=list)
    read_only: Mapped[bool] = mapped_column(Boolean, default=False)
    busy: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16), default="confirmed")
    when: Mapped[dict[str, Any]] = mapped_column("when_", JSON, default=dict)
    start_ts: Mapped[int] = mapped_column(BigInteger, default=0)
    end_ts: Mapped[int] = mapped_column(BigInteger, default=0)
    recurrence: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    master_event_id: Mapped[int | None] = mapped_column(
        ForeignKey("events.id", ondelete="CASCADE"), nullable=True
    )
    original_start_time: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # {"reminder_minutes": "[N]", "reminder_method": ...} (calendar/reminders.py), or None
    reminders: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)
    updated_at: Mapped[int] = mapped_column(BigInteger, default=now, onupdate=now)
    deleted_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    calendar: Mapped[Calendar] = relationship(lazy="joined")
    __table_args__ = (
        Index("ix_events_account_start", "account_id", "start_ts"),
        Index("ix_events_message", "message_id"),
        Index("ix_events_ical_uid", "account_id", "ical_uid"),
    )


# ---------------------------------------------------------------------------------- metadata


class MetadataEntry(Base):
    """One key and value of an object's metadata, kept for filtering (store/metadata.py).

    The owner is one of: a message or draft, an event, a calendar (their `metadata` JSON
    column is what reads return; these rows follow it), or an account as one app sees it
    (`app_id` set, no other owner: these rows are that metadata). Deleting the owner deletes
    its rows.
    """

    __tablename__ = "metadata_entries"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    app_id: Mapped[int | None] = mapped_column(
        ForeignKey("apps.id", ondelete="CASCADE"), nullable=True
    )
    message_id: Mapped[int | None] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), nullable=True
    )
    event_id: Mapped[int | None] = mapped_column(
        ForeignKey("events.id", ondelete="CASCADE"), nullable=True
    )
    calendar_id: Mapped[int | None] = mapped_column(
        ForeignKey("calendars.id", ondelete="CASCADE"), nullable=True
    )
    key: Mapped[str] = mapped_column(String(40))
    value: Mapped[str] = mapped_column(String(500))
    __table_args__ = (
        Index("ix_metadata_entries_pair", "account_id", "key", "value"),
        Index("ix_metadata_entries_value", "account_id", "value"),
        Index("ix_metadata_entries_message", "message_id"),
        Index("ix_metadata_entries_event", "event_id"),
        Index("ix_metadata_entries_calendar", "calendar_id"),
        Index("ix_metadata_entries_app", "app_id", "account_id"),
    )


# ------------------------------------------------------------------- delta, idempotency


class Transaction(Base):
    """One change to one API object: the delta log. `public_id` is the cursor."""

    __tablename__ = "transactions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True, default=new_public_id)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    object_type: Mapped[str] = mapped_column(String(16))
    object_public_id: Mapped[str] = mapped_column(String(40))
    command: Mapped[str] = mapped_column(String(8))  # insert | update | delete
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)
    __table_args__ = (Index("ix_transactions_account", "account_id", "id"),)


class IdempotentResponse(Base):
    """A request carrying an `Idempotency-Key`: who sent it, what it was, and once final its
    reply, replayed to retries (store/idempotency.py says how a key lives and ends)."""

    __tablename__ = "idempotent_responses"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scope: Mapped[str] = mapped_column(String(64))  # SHA-256 of the principal (app/account)
    key: Mapped[str] = mapped_column(String(255))
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(2048))
    # SHA-256 of method, path, query and body: a reuse of the key for anything else is a 422.
    fingerprint: Mapped[str] = mapped_column(String(64), default="", server_default="")
    status_code: Mapped[int] = mapped_column(Integer, default=0)  # 0 while in progress
    content_type: Mapped[str] = mapped_column(String(255), default="application/json")
    body: Mapped[bytes] = mapped_column(LargeBinary, default=b"")
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)
    # The attempt running the request (its engine's boot id + a random part), and when it
    # took the key: past the lease a retry may take it over, unless that engine says the
    # attempt is still running.
    attempt: Mapped[str] = mapped_column(String(64), default="", server_default="")
    claimed_at: Mapped[int] = mapped_column(BigInteger, default=now, server_default="0")
    # The Message-ID of a send whose SMTP DATA was about to start (committed first): such a
    # request is never run again under this key.
    send_message_id: Mapped[str | None] = mapped_column(String(998), nullable=True)
    __table_args__ = (
        UniqueConstraint("scope", "key", name="uq_idempotency_scope_key"),
        Index("ix_idempotency_created", "created_at"),
    )


class Webhook(PublicIdMixin, Base):
    __tablename__ = "webhooks"
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    callback_url: Mapped[str] = mapped_column(String(2048))
    state: Mapped[str] = mapped_column(String(16), default="active")
    triggers: Mapped[list[Any]] = mapped_column(JSON, default=list)
    version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)
    # When the callback URL echoed the challenge; nothing is delivered before that.
    verified_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class WebhookCursor(Base):
    """How far a webhook's notifications have gone for one of its app's accounts: the last
    delta-log row delivered (or passed over), and the sync state last announced."""

    __tablename__ = "webhook_cursors"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    transaction_id: Mapped[int] = mapped_column(Integer, default=0)
    sync_state: Mapped[str] = mapped_column(String(32))
    __table_args__ = (UniqueConstraint("webhook_id", "account_id", name="uq_webhook_cursor"),)


class RoomResource(Base):
    """A room (or other bookable resource) an operator configured (`nylas-engine resources
    add`), listed to every account at GET /resources as hosted v2 listed its providers'."""

    __tablename__ = "room_resources"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(255), unique=True)  # lower case
    name: Mapped[str] = mapped_column(String(255), default="")
    capacity: Mapped[int | None] = mapped_column(Integer, nullable=True)
    building: Mapped[str | None] = mapped_column(String(255), nullable=True)
    floor_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    floor_number: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)


class OutboxJob(Base):
    """A message to send later (`/v2/outbox`): its draft fields as given, when to send it,
    and how far it got. `public_id` is its job status id. store/outbox_jobs.py says how a
    job moves from `pending` to `sending` to `successful` / `failed` (or `cancelled`)."""

    __tablename__ = "outbox_jobs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True, default=new_public_id)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    send_at: Mapped[int] = mapped_column(BigInteger)
    original_send_at: Mapped[int] = mapped_column(BigInteger)
    retry_limit: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    due_at: Mapped[int] = mapped_column(BigInteger)  # send_at, or the next retry
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # The scheduler sending it (its boot id) and since when; `data_started` once SMTP DATA
    # may have begun: from then on the job is never tried again.
    claimed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    claimed_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    data_started: Mapped[bool] = mapped_column(Boolean, default=False)
    message_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    thread_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)
    updated_at: Mapped[int] = mapped_column(BigInteger, default=now)
    __table_args__ = (
        Index("ix_outbox_jobs_account", "account_id", "id"),
        Index("ix_outbox_jobs_due", "status", "due_at"),
    )
