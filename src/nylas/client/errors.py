"""The error family of `nylas.client.errors`, with the 3.x names, mapped from status in one table.

    try:
        draft.send()
    except nylas.client.errors.MessageRejectedError as e:
        print(e.message, e.server_error)

Every error raised for a reply carries `.status_code`, `.message`, `.type`, `.server_error` (the
mail provider's own words, when the API passed them on), `.request_id` and `.body` (the parsed
JSON body, or the raw text). `str(error)` names the status and the request id.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = [
    "NylasError",
    "APIError",
    "APIClientError",
    "InvalidRequestError",
    "NotAuthorizedError",
    "MessageRejectedError",
    "NotFoundError",
    "MethodNotSupportedError",
    "ConflictError",
    "PayloadTooLargeError",
    "SendingQuotaExceededError",
    "RateLimitError",
    "ServerError",
    "ServiceUnavailableError",
    "ServerTimeoutError",
    "UnSyncedError",
    "ConnectionError",
    "RequestTimeoutError",
    "FileUploadError",
    "STATUS_ERRORS",
    "error_for_reply",
]


class NylasError(Exception):
    """Base of everything this SDK raises on purpose."""


class APIError(NylasError):
    """A request that did not succeed: an error reply, or no reply at all (`status_code` None)."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        type: str | None = None,
        server_error: str | None = None,
        request_id: str | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.type = type
        self.server_error = server_error
        self.request_id = request_id
        self.body = body
        self.headers: Mapping[str, str] = headers or {}

    def __str__(self) -> str:
        text = self.message
        if self.status_code is not None:
            text = f"{self.status_code} {text}"
        if self.server_error:
            text += f" (server error: {self.server_error})"
        if self.request_id:
            text += f" [request_id: {self.request_id}]"
        return text

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(message={self.message!r}, status_code={self.status_code!r}, "
            f"request_id={self.request_id!r})"
        )


# The 3.x base name, kept so `except APIClientError` still works.
APIClientError = APIError


class InvalidRequestError(APIError):
    """400: the request was malformed (bad id, bad filter, missing field...)."""


class NotAuthorizedError(APIError):
    """401/403: missing, unknown or revoked credential, or the account cannot act."""


class MessageRejectedError(APIError):
    """402: the mail provider refused the message (see `.server_error` for its words)."""


class NotFoundError(APIError):
    """404: no such object (or it belongs to another account)."""


class MethodNotSupportedError(APIError):
    """405."""


class ConflictError(APIError):
    """409: e.g. a draft `version` that is no longer current."""


class PayloadTooLargeError(InvalidRequestError):
    """413: the body or upload is over the server's limit."""


class SendingQuotaExceededError(APIError):
    """429: the provider throttled sending, or a quota was reached."""


class RateLimitError(SendingQuotaExceededError):
    """429 with the API's rate-limit headers parsed (`rate_limit`, `rate_limit_reset`)."""

    def __init__(self, message: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.rate_limit = _int_header(self.headers, "x-ratelimit-limit")
        self.rate_limit_reset = _int_header(self.headers, "x-ratelimit-reset")


class ServerError(APIError):
    """500 (and other 5xx without a closer match)."""


class ServiceUnavailableError(ServerError):
    """503: a temporary failure on the server or at the mail provider."""


class ServerTimeoutError(ServerError):
    """504."""


class UnSyncedError(APIError):
    """202: the raw message is not available yet; try again later."""


class ConnectionError(APIError):  # noqa: A001 - the 3.x name, shadowing the builtin on purpose
    """The server (or the SMTP server behind it) could not be reached.

    Raised for transport failures (no reply at all, `status_code` None) and for a 503 reply to a
    send, which is how the API reports an unreachable SMTP server.
    """


class RequestTimeoutError(ConnectionError):
    """No complete reply within the configured timeout."""


class SendUnavailableError(ServiceUnavailableError, ConnectionError):
    """503 on a send: the SMTP server could not be reached. Both 3.x names catch it."""


class FileUploadError(NylasError):
    """A file was saved with neither `data` nor `stream` to upload."""


# The one status table. Anything missing maps by class: other 4xx -> APIError, 5xx -> ServerError.
STATUS_ERRORS: dict[int, type[APIError]] = {
    202: UnSyncedError,
    400: InvalidRequestError,
    401: NotAuthorizedError,
    402: MessageRejectedError,
    403: NotAuthorizedError,
    404: NotFoundError,
    405: MethodNotSupportedError,
    409: ConflictError,
    413: PayloadTooLargeError,
    429: RateLimitError,
    500: ServerError,
    503: ServiceUnavailableError,
    504: ServerTimeoutError,
}

_SEND_PATHS = ("/send", "/send-rsvp", "/send-with-features")


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def error_class(status: int, path: str = "") -> type[APIError]:
    if status == 503 and path.rstrip("/").endswith(_SEND_PATHS):
        return SendUnavailableError
    if status in STATUS_ERRORS:
        return STATUS_ERRORS[status]
    return ServerError if status >= 500 else APIError


def error_for_reply(
    status: int,
    headers: Mapping[str, str],
    content: bytes,
    *,
    path: str = "",
    request_id: str | None = None,
) -> APIError:
    """Build the error for an unsuccessful reply (`headers` with lower-case names)."""
    body: Any
    text = content.decode("utf-8", "replace")
    try:
        body = json.loads(text) if text else None
    except ValueError:
        body = text
    message = ""
    kind = server_error = None
    if isinstance(body, dict):
        message = str(body.get("message") or "")
        kind = body.get("type")
        server_error = body.get("server_error")
    elif isinstance(body, str):
        message = body.strip()[:500]
    if not message:
        message = "The raw message is not available yet." if status == 202 else f"HTTP {status}"
    cls = error_class(status, path)
    return cls(
        message,
        status_code=status,
        type=kind if isinstance(kind, str) else None,
        server_error=str(server_error) if server_error is not None else None,
        request_id=request_id,
        body=body,
        headers=headers,
    )
