"""The account, apps, webhooks, jobs, delta, connect and OAuth (docs/protocol.md §15-§17)."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from nylas_engine.api.schemas.common import NOT_BLANK, Input, Metadata, Open, Text
from nylas_engine.api.schemas.mail import DraftInput
from nylas_engine.scopes import SCOPES_PATTERN

WEBHOOK_TRIGGERS = frozenset(
    {
        "account.connected",
        "account.running",
        "account.stopped",
        "account.invalid",
        "account.sync_error",
        "message.created",
        "message.opened",
        "message.updated",
        "message.link_clicked",
        "thread.replied",
        "contact.created",
        "contact.updated",
        "contact.deleted",
        "calendar.created",
        "calendar.updated",
        "calendar.deleted",
        "event.created",
        "event.updated",
        "event.deleted",
        "job.successful",
        "job.failed",
    }
)
WEBHOOK_STATES = ("active", "inactive")
# What the engine takes as a webhook's callback: an http(s) URL with a host.
CALLBACK = "^https?://[^/?#\\s]+([/?#][^\\x00]*)?$"
# A redirect URI: absolute, with a host, no fragment (api/routes/apps.py `_check_redirect_uri`).
REDIRECT_URI = "^[A-Za-z][A-Za-z0-9+.-]*://[^/?#\\s]+[^#\\s]*$"


class Account(Open):
    id: str
    object: str
    account_id: str
    email_address: str
    name: str | None = None
    provider: str
    organization_unit: str
    sync_state: str
    linked_at: int | None = None


class AppAccount(Open):
    id: str
    account_id: str
    email: str
    provider: str
    sync_state: str
    billing_state: str | None = None


class AppAccountInput(Input):
    metadata: Metadata | None = None


class Application(Open):
    application_name: str | None = None
    icon_url: str | None = None
    redirect_uris: list[str] | None = None


class AppInput(Input):
    nullable: ClassVar[tuple[str, ...]] = ("icon_url",)
    application_name: str | None = Field(None, max_length=255, pattern=NOT_BLANK)
    icon_url: Text | None = Field(None, max_length=1024)
    redirect_uris: list[Annotated[str, Field(max_length=2048, pattern=REDIRECT_URI)]] | None = None


class Webhook(Open):
    id: str
    application_id: str
    callback_url: str
    state: str
    triggers: list[str]
    version: int | str | None = None


Trigger = Annotated[str, WithJsonSchema({"type": "string", "enum": sorted(WEBHOOK_TRIGGERS)})]


class WebhookInput(Input):
    """PUT /a/{client_id}/webhooks/{id}: only the state changes."""

    state: Literal["active", "inactive"] | None = None


class WebhookCreate(WebhookInput):
    callback_url: str = Field(max_length=2048, pattern=CALLBACK)
    triggers: list[Trigger] = Field(min_length=1)


class JobStatus(Open):
    id: str
    object: str
    account_id: str
    job_status_id: str
    action: str | None = None
    status: str


class OutboxJob(Open):
    """A scheduled send (/v2/outbox): its job, when it goes, and the draft it sends."""

    account_id: str
    job_status_id: str
    status: str
    send_at: int | None = None
    original_send_at: int | None = None
    message_id: str | None = None
    thread_id: str | None = None
    original_data: dict[str, Any]


# api/routes/connect.py: IMAP_PROVIDERS, then OAUTH_PROVIDERS.
CONNECT_PROVIDERS = ("imap", "custom", "icloud", "yahoo", "aol", "fastmail", "gmail", "office365")


class ConnectInput(Input):
    """POST /connect/authorize: the app, the account and its servers (docs/protocol.md §16)."""

    client_id: str = Field(min_length=1, pattern=NOT_BLANK)
    client_secret: Text | None = None
    name: Text | None = None
    email_address: str = Field(json_schema_extra={"format": "email"})
    provider: Literal[CONNECT_PROVIDERS] | None = None  # type: ignore[valid-type]
    settings: dict[str, Any]
    scopes: str | None = Field(None, max_length=255, pattern=SCOPES_PATTERN)
    nullable: ClassVar[tuple[str, ...]] = ("client_secret", "name", "provider", "scopes")


class Cursor(Open):
    cursor: str


class CursorStart(BaseModel):
    """POST /delta/generate_cursor: exactly {"start": <unix seconds>}."""

    model_config = ConfigDict(extra="forbid")
    start: int


class TokenInfoInput(Input):
    access_token: Text = Field(min_length=1)


class Delta(Open):
    cursor_start: str | None = None
    cursor_end: str | None = None
    deltas: list[dict[str, Any]]


class Token(Open):
    access_token: str
    account_id: str | None = None
    token_type: str | None = None


class ScheduleInput(DraftInput):
    """POST/PATCH /v2/outbox: a draft to send later (`send_at`, unix seconds)."""

    send_at: int | None = None
    retry_limit_datetime: int | None = None
