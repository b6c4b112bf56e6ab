"""The JSON error body of docs/protocol.md §2: `{"message", "type", ["server_error"], ...}`.

Routes raise `APIError` (or one of its shorthands), the layers below raise the domain errors
of nylas_engine/errors.py (mapped here once, `from_domain`); the handlers installed
by `install_handlers` turn it, framework errors and unexpected exceptions into that body, so
no request ever gets an HTML page or a bare 500 without JSON.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from nylas_engine.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InvalidRequest,
    MessageRejected,
    NotFound,
)
from nylas_engine.metadata import InvalidMetadata
from nylas_engine.send.errors import SendError

log = logging.getLogger("nylas_engine")

INVALID = "invalid_request_error"
API_ERROR = "api_error"


class APIError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        type: str = INVALID,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.headers = headers
        self.extra = {k: v for k, v in extra.items() if v is not None}

    def body(self) -> dict[str, Any]:
        return {"message": self.message, "type": self.type, **self.extra}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def bad_request(message: str) -> APIError:
    return APIError(400, message)


def not_found(message: str) -> APIError:
    return APIError(404, message)


def conflict(message: str) -> APIError:
    return APIError(409, message)


def not_implemented(message: str = "API endpoint not yet implemented") -> APIError:
    return APIError(501, message, API_ERROR)


def method_not_allowed(allow: str) -> APIError:
    """405 for a method the API never offers on a path it serves, with the `Allow` header."""
    return APIError(
        405, "The method is not allowed for the requested URL.", API_ERROR, {"Allow": allow}
    )


def unauthorized() -> APIError:
    return APIError(
        401,
        "Could not verify access credential.",
        headers={"WWW-Authenticate": 'Basic realm="API Access Token Required"'},
    )


# The one table from the domain's errors (nylas_engine/errors.py) to HTTP statuses.
DOMAIN_STATUS: dict[type[DomainError], int] = {
    InvalidRequest: 400,
    MessageRejected: 402,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
}


def from_domain(exc: DomainError) -> APIError:
    """The reply to a domain error: its class's status (a send's status is the one
    docs/protocol.md §2.3 gives the SMTP server's answer), its body unchanged."""
    if isinstance(exc, SendError):
        status = exc.status
    else:
        status = next((code for kind, code in DOMAIN_STATUS.items() if isinstance(exc, kind)), 400)
    return APIError(status, exc.message, exc.type, **exc.extra)


def allowed_methods(request: Request) -> str | None:
    """What the API offers at this path, from its own description (Starlette's own 405 names
    only the methods of the first route that matched the path, one of several)."""
    from nylas_engine.api.openapi import allowed_methods

    return allowed_methods(request.app.openapi(), request.url.path)


async def _credentials_first(request: Request) -> APIError | None:
    from nylas_engine.api.deps import credentials_error  # deps raises these errors

    return await credentials_error(request)


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain_error(_request: Request, exc: DomainError) -> JSONResponse:
        return from_domain(exc).response()

    @app.exception_handler(APIError)
    async def _api_error(request: Request, exc: APIError) -> JSONResponse:
        if exc.status == 400:
            return (await _credentials_first(request) or exc).response()
        return exc.response()

    @app.exception_handler(InvalidMetadata)
    async def _invalid_metadata(request: Request, exc: InvalidMetadata) -> JSONResponse:
        return (await _credentials_first(request) or bad_request(str(exc))).response()

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else "Request failed"
        if exc.status_code == 404 and message == "Not Found":
            message = "The requested URL was not found on the server."
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:
            message = "The method is not allowed for the requested URL."
            if allow := allowed_methods(request):
                headers = {**(headers or {}), "Allow": allow}
        return JSONResponse(
            {"message": message, "type": API_ERROR}, status_code=exc.status_code, headers=headers
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        if refused := await _credentials_first(request):
            return refused.response()
        parts = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query"))
            parts.append(f"{where}: {err.get('msg')}" if where else str(err.get("msg")))
        return JSONResponse(
            {"message": "Invalid request: " + "; ".join(parts), "type": INVALID},
            status_code=400,
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        uid = request.scope.get("state", {}).get("request_id", "")
        return JSONResponse(
            {
                "message": f"An internal error occured. request_uid: {uid}".strip(),
                "type": API_ERROR,
            },
            status_code=500,
        )
