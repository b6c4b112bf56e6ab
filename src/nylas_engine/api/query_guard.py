"""Query strings are checked once, before any route reads them.

A NUL (`%00`) in any parameter is a 400: no parameter of the API can hold one, and
PostgreSQL can't compare text holding it (`?in=`, `?filename=`, `?content_type=` failed
there with a 500). Checking here covers every parameter, whether a route reads it through
`api.params.Query` or straight from the request.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from nylas_engine.api.errors import bad_request


def query_problem(query_string: bytes) -> str | None:
    """Why a query string is refused, or None. Decoded as Starlette decodes it (UTF-8,
    bad bytes replaced), so what is checked is what the routes will read."""
    if not query_string:
        return None
    for name, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if "\x00" in name or "\x00" in value:
            return f"Invalid query parameter {name.replace(chr(0), '')!r}: it holds a NUL"
    return None


class QueryGuardMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (problem := query_problem(scope.get("query_string", b""))):
            await bad_request(problem).response()(scope, receive, send)
            return
        await self.app(scope, receive, send)
