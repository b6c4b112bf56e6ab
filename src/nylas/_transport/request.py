"""A request description (what a resource wants done) and a reply (what came back)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

AuthKind = Literal["token", "app", "none"]


@dataclass(frozen=True)
class Upload:
    """One multipart file part; `file` is a binary file-like object or bytes."""

    filename: str
    file: Any
    content_type: str = "application/octet-stream"


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    params: Mapping[str, Any] | None = None
    json: Any = None
    content: bytes | None = None
    form: Mapping[str, str] | None = None
    upload: Upload | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    auth: AuthKind = "token"
    # Per-call overrides of the client's settings (None: use the client's).
    timeout: Any = None
    max_retries: int | None = None
    # Statuses below 300 that are still errors for this call (202 on a raw message).
    error_statuses: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Reply:
    status_code: int
    headers: Mapping[str, str]
    content: bytes
    request_id: str | None = None

    def json(self) -> Any:
        if not self.content:
            return None
        return json.loads(self.content)
