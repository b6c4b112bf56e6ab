"""A client's settings, and the request building that depends on them (URL, headers, auth)."""

from __future__ import annotations

import base64
import platform
import uuid
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote

from nylas._transport.request import Request
from nylas._version import __version__

DEFAULT_API_SERVER = "https://api.nylas.com"
DEFAULT_MAX_RETRIES = 2
USER_AGENT = f"Nylas Python SDK {__version__} - Python {platform.python_version()}"


@dataclass(frozen=True)
class Timeout:
    """Seconds allowed to connect, to read each chunk, to write, and to get a pooled connection."""

    read: float | None = 60.0
    connect: float | None = 10.0
    write: float | None = 60.0
    pool: float | None = 10.0


DEFAULT_TIMEOUT = Timeout()
# What `timeout=` accepts: seconds for everything, a `Timeout`, an `httpx.Timeout`, or None (none).
TimeoutLike = Any


@dataclass(frozen=True)
class ClientConfig:
    api_server: str = DEFAULT_API_SERVER
    app_id: str | None = None
    app_secret: str | None = None
    access_token: str | None = None
    timeout: TimeoutLike = DEFAULT_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    default_headers: tuple[tuple[str, str], ...] = ()

    def evolve(self, **changes: Any) -> ClientConfig:
        return replace(self, **changes)

    def url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return self.api_server.rstrip("/") + "/" + path.lstrip("/")

    def headers(self, request: Request, idempotency_key: str | None) -> dict[str, str]:
        headers = {
            "User-Agent": USER_AGENT,
            "X-Nylas-API-Wrapper": "python",
            "Accept": "application/json",
        }
        headers.update(self.default_headers)
        auth = self.authorization(request)
        if auth:
            headers["Authorization"] = auth
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        headers.update(request.headers)
        return headers

    def authorization(self, request: Request) -> str | None:
        """Bearer token for account calls; Basic `<app secret>:` for app-level `/a/...` calls."""
        if request.auth == "none":
            return None
        if request.auth == "app" and self.app_secret:
            return basic(self.app_secret)
        if self.access_token:
            return f"Bearer {self.access_token}"
        return None


def basic(username: str, password: str = "") -> str:
    raw = f"{username}:{password}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def new_idempotency_key() -> str:
    return str(uuid.uuid4())


def needs_idempotency_key(method: str) -> bool:
    return method.upper() not in ("GET", "HEAD", "OPTIONS")


def path_id(value: str) -> str:
    """An id placed in a URL path, escaped so it can never change the path."""
    return quote(str(value), safe="")
