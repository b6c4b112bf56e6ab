"""Query strings are checked once, before any route reads them.

Secrets (a client secret, a password, an access or refresh token) are accepted in request
bodies and headers only: a query string ends up in access logs, proxy logs, browser history
and Referer headers. A request carrying one there is a 400 and is not processed, whatever
the route (docs/protocol.md §16.1 let Node 6 send /oauth/token's fields as query parameters; issue
10 withdrew that). `AccessLogRedaction` keeps such values out of uvicorn's access log too.

A NUL (`%00`) in any parameter is a 400: no parameter of the API can hold one, and
PostgreSQL can't compare text holding it (`?in=`, `?filename=`, `?content_type=` failed
there with a 500). Checking here covers every parameter, whether a route reads it through
`api.params.Query` or straight from the request.
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl, urlencode

from starlette.types import ASGIApp, Receive, Scope, Send

from nylas_engine.api.errors import bad_request

SECRET_NAMES = frozenset({"client_secret", "password", "access_token", "refresh_token"})
_SECRET_SUFFIXES = ("_secret", "_password", "_token")


def is_secret(name: str) -> bool:
    """Whether a parameter of this name carries a secret (`imap_password`, `client_secret`,
    `google_refresh_token`, ...)."""
    lowered = name.strip().lower()
    return lowered in SECRET_NAMES or lowered.endswith(_SECRET_SUFFIXES)


def _pairs(query: str) -> list[tuple[str, str]]:
    return parse_qsl(query, keep_blank_values=True)


def query_problem(query_string: bytes) -> str | None:
    """Why a query string is refused, or None. Decoded as Starlette decodes it (UTF-8,
    bad bytes replaced), so what is checked is what the routes will read."""
    if not query_string:
        return None
    for name, value in _pairs(query_string.decode("latin-1")):
        if "\x00" in name or "\x00" in value:
            return f"Invalid query parameter {name.replace(chr(0), '')!r}: it holds a NUL"
        if is_secret(name):
            return (
                f"{name} may not be sent in the query string, where logs keep it: send it in "
                "the request body (or the Authorization header)"
            )
    return None


def redact(path_and_query: str) -> str:
    """`path?query` with the values of secret parameters replaced by `***`."""
    path, sep, query = path_and_query.partition("?")
    pairs = _pairs(query)
    if not any(is_secret(name) for name, _ in pairs):
        return path_and_query
    return path + sep + urlencode([(n, "***" if is_secret(n) else v) for n, v in pairs], safe="*")


class AccessLogRedaction(logging.Filter):
    """On uvicorn's access logger: the request line's secret values become `***` (the
    request itself is refused by QueryGuardMiddleware, but uvicorn logs it anyway)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact(args[2]), *args[3:])
        return True


class QueryGuardMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (problem := query_problem(scope.get("query_string", b""))):
            await bad_request(problem).response()(scope, receive, send)
            return
        await self.app(scope, receive, send)
