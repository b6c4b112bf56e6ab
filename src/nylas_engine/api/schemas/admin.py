"""The account, apps, webhooks, jobs, delta, connect and OAuth (docs/protocol.md §15-§17)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from nylas_engine.api.schemas.common import Input, Metadata, Open, Text


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
    application_name: Text | None = None
    icon_url: Text | None = None
    redirect_uris: list[Text] | None = None


class Webhook(Open):
    id: str
    application_id: str
    callback_url: str
    state: str
    triggers: list[str]
    version: str | None = None


class WebhookInput(Input):
    callback_url: Text | None = None
    state: Text | None = None
    triggers: list[Text] | None = None


class JobStatus(Open):
    id: str
    object: str
    account_id: str
    job_status_id: str
    action: str | None = None
    status: str


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


class ScheduleInput(Input):
    """POST/PATCH /v2/outbox: a draft to send later (`send_at`, unix seconds)."""

    send_at: int | None = None
    retry_limit_datetime: int | None = None
