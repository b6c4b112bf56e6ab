"""The FastAPI application: error handlers, request ids, CORS, size limits, query checks,
admission control,
idempotency, routes."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nylas_engine import __version__
from nylas_engine.api.admission import AdmissionMiddleware
from nylas_engine.api.bodies import body_limit
from nylas_engine.api.docs import install_docs
from nylas_engine.api.errors import APIError, install_handlers
from nylas_engine.api.idempotency import IdempotencyMiddleware
from nylas_engine.api.openapi import install_openapi
from nylas_engine.api.query_guard import QueryGuardMiddleware
from nylas_engine.api.ratelimit import ConcurrencyCap, FailureLimiter, SharedFailureLimiter
from nylas_engine.api.routes import routers
from nylas_engine.config import Settings
from nylas_engine.context import EngineContext


class RequestIdMiddleware:
    """Every reply carries `X-Request-Id` (the client's own `X-Request-Id`/`X-Unique-ID` if it
    sent one, else a fresh id), so an SDK error can name the request it came from."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        given = headers.get(b"x-request-id") or headers.get(b"x-unique-id") or b""
        request_id = given[:128] if given.isascii() and given else uuid.uuid4().hex.encode()
        scope.setdefault("state", {})["request_id"] = request_id.decode()

        async def with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = [(b"x-request-id", request_id)]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, with_id)


class CorsMiddleware:
    """CORS for the web origins the operator names (`serve --cors-origins`), and no others.

    Without any, replies carry no CORS headers, so a browser lets no other site read them: in
    open mode the account id is the token and `/accounts` lists the ids, so any page could
    otherwise read the mailbox. A listed origin is echoed with credentials allowed; `*` lets
    every origin in, without credentials (the CLI refuses it in open mode). A preflight from
    an origin that isn't allowed goes on to the routes, which answer it without CORS headers.
    """

    ALLOW = [
        (b"access-control-allow-headers", b"Authorization,Content-Type,Idempotency-Key"),
        (b"access-control-allow-methods", b"GET,PUT,POST,DELETE,OPTIONS,PATCH"),
    ]

    def __init__(self, app: ASGIApp, origins: tuple[str, ...]) -> None:
        self.app = app
        self.origins = frozenset(o.encode() for o in origins if o != "*")
        self.any_origin = "*" in origins

    def _headers(self, origin: bytes) -> list[tuple[bytes, bytes]] | None:
        if origin.lower() in self.origins:
            return [
                (b"access-control-allow-origin", origin),
                (b"access-control-allow-credentials", b"true"),
                (b"vary", b"Origin"),
                *self.ALLOW,
            ]
        if self.any_origin:
            return [(b"access-control-allow-origin", b"*"), *self.ALLOW]
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        origin = (
            dict(scope.get("headers") or []).get(b"origin") if scope["type"] == "http" else None
        )
        cors = self._headers(origin) if origin is not None else None
        if cors is None:
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS":
            await send({"type": "http.response.start", "status": 200, "headers": cors})
            await send({"type": "http.response.body", "body": b""})
            return

        async def with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *cors]}
            await send(message)

        await self.app(scope, receive, with_cors)


class BodyLimitMiddleware:
    """413 for a declared body over the limit (uploads also count bytes as they stream)."""

    def __init__(self, app: ASGIApp, ctx: EngineContext) -> None:
        self.app = app
        self.ctx = ctx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            length = dict(scope.get("headers") or []).get(b"content-length")
            limit = body_limit(scope, self.ctx.settings.max_upload_bytes)
            if length is not None and length.isdigit() and int(length) > limit:
                response = APIError(
                    413, f"Request body is larger than the limit of {limit} bytes.", "api_error"
                ).response()
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(ctx: EngineContext) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Route bodies and database calls run in anyio's worker threads: as many as the
        # engine admits requests (api/admission.py), and no more than the database pool.
        anyio.to_thread.current_default_thread_limiter().total_tokens = ctx.settings.worker_threads
        # Wake the delta longpolls when changes are committed (store/delta_notify.py): on
        # SQLite this process's own commits, on PostgreSQL any process's.
        from nylas_engine.store.delta_notify import DeltaNotifications, LocalWakeups

        notifications: LocalWakeups | DeltaNotifications
        if ctx.db.is_sqlite:
            notifications = LocalWakeups().start()
        else:
            notifications = DeltaNotifications(ctx.db.url).start()
        app.state.delta_notifications = notifications
        try:
            yield
        finally:
            notifications.stop()

    app = FastAPI(
        title="nylas-engine",
        version=__version__,
        description="An open-source server for the Nylas v2 REST API.",
        docs_url=None,  # api/docs.py serves it, with no CDN
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    settings = ctx.settings
    app.state.auth_failures = (
        FailureLimiter(settings.auth_failure_limit, settings.auth_failure_window)
        if ctx.db.is_sqlite
        else SharedFailureLimiter(settings.auth_failure_limit, settings.auth_failure_window, ctx.db)
    )
    app.state.connect_attempts = ConcurrencyCap.for_connect()
    install_handlers(app)
    install_docs(app)
    install_openapi(app)
    for router in routers():
        app.include_router(router)
    app.add_middleware(IdempotencyMiddleware, ctx=ctx)
    app.add_middleware(AdmissionMiddleware, settings=settings)
    app.add_middleware(BodyLimitMiddleware, ctx=ctx)
    app.add_middleware(QueryGuardMiddleware)
    if settings.cors_origins:
        app.add_middleware(CorsMiddleware, origins=settings.cors_origins)
    app.add_middleware(RequestIdMiddleware)
    return app


def app_from_env() -> FastAPI:
    """Factory for `uvicorn --factory nylas_engine.api.app:app_from_env` (used by cli serve)."""
    return create_app(EngineContext.open(Settings.from_env()))
