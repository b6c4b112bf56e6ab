"""The engine's domain errors: what went wrong, in the words of docs/protocol.md §2.

`store/`, `send/`, `calendar/` and `sync/` raise these and never know about HTTP; `api/errors.py`
maps each class to its status code in one table (`from_domain`). The message, the error
`type` and any extra fields (`server_error`, `failures`, ...) are the JSON body a client sees.
"""

from __future__ import annotations

from typing import Any

INVALID = "invalid_request_error"
API_ERROR = "api_error"


class DomainError(Exception):
    """Base of every error a client may be told about. `type` is the body's error type."""

    type: str = INVALID

    def __init__(self, message: str, *, type: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        if type is not None:
            self.type = type
        self.extra = {k: v for k, v in extra.items() if v is not None}

    def body(self) -> dict[str, Any]:
        return {"message": self.message, "type": self.type, **self.extra}


class InvalidRequest(DomainError):
    """The request's own content is wrong (a bad field, an unknown id in a body, ...)."""


class Forbidden(DomainError):
    """The token or account may not do this (a scope it lacks, ...)."""


class NotFound(DomainError):
    """The object named by the request does not exist for this account."""


class Conflict(DomainError):
    """The object changed under the request (an old draft version, a job no longer pending)."""


class MessageRejected(DomainError):
    """The message can't be sent as it is; retrying will not help."""

    type = API_ERROR


__all__ = [
    "API_ERROR",
    "INVALID",
    "Conflict",
    "DomainError",
    "Forbidden",
    "InvalidRequest",
    "MessageRejected",
    "NotFound",
]
