"""Admission control: how many requests the engine works on at once, and what the rest get.

Up to `max_in_flight` requests are worked on at once. Later ones wait, first come first
served, in a queue of at most `max_queued`, each for at most `queue_timeout` seconds; a
request that finds the queue full, or waits longer, is answered at once with 503, a
`Retry-After` header and the usual JSON error body, which the SDK retries after that delay.
Under a crowd the engine so stays quick for what it admits and tells the rest to come back,
instead of letting every request time out.

A request's body is read before it takes a slot (api/bodies.py): a client that sends its
body slowly, or stops, holds only its own connection; one that stops for `body_timeout`
seconds is answered 408.

Long-lived requests (`/delta/longpoll`, `/delta/streaming`) spend their time waiting for
changes, holding no database session (api/routes/delta.py); they count against a cap of
their own (`max_streams`, no queue) so that they never take the slots short requests need.

The same numbers size the worker threads (`create_app`'s lifespan) and the database pool
(config.Settings.db_pool_size): an admitted request always finds a thread soon and a
connection at once, and a waiting request holds neither.
"""

from __future__ import annotations

import anyio
from starlette.types import ASGIApp, Receive, Scope, Send

from nylas_engine.api.bodies import (
    BodyTimeout,
    BodyTooLarge,
    body_limit,
    has_body,
    read_body,
    replaying,
    spooled,
)
from nylas_engine.api.errors import APIError
from nylas_engine.config import Settings

LONG_LIVED = frozenset({"/delta/longpoll", "/delta/streaming"})
RETRY_AFTER = 2  # seconds: long enough for a queue to drain a little


class Gate:
    """`capacity` holders at once; up to `queue` more wait, each at most `timeout` seconds."""

    def __init__(self, capacity: int, queue: int, timeout: float) -> None:
        self.capacity = capacity
        self.queue = queue
        self.timeout = timeout
        self.waiting = 0
        self._slots: anyio.Semaphore | None = None  # made inside the event loop

    async def enter(self) -> bool:
        """True once the caller holds a slot (it must `leave()`), False if refused."""
        if self._slots is None:
            self._slots = anyio.Semaphore(self.capacity)
        slots = self._slots
        if self.waiting == 0 and slots.value > 0:
            slots.acquire_nowait()
            return True
        if self.waiting >= self.queue:
            return False
        self.waiting += 1
        try:
            with anyio.move_on_after(self.timeout):
                await slots.acquire()
                return True
            return False
        finally:
            self.waiting -= 1

    def leave(self) -> None:
        assert self._slots is not None
        self._slots.release()


def busy() -> APIError:
    return APIError(
        503,
        f"The server is busy with other requests. Please retry in {RETRY_AFTER} seconds.",
        "api_error",
        headers={"Retry-After": str(RETRY_AFTER)},
    )


class AdmissionMiddleware:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.short = Gate(settings.max_in_flight, settings.max_queued, settings.queue_timeout)
        self.long = Gate(settings.max_streams, 0, 0.0)
        self.upload = settings.max_upload_bytes
        self.body_timeout = settings.body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        gate = self.long if scope["path"].rstrip("/") in LONG_LIVED else self.short
        if not has_body(scope):
            await self._admitted(gate, scope, receive, send)
            return
        # The body first, then a slot: a client slow to send it holds no slot meanwhile.
        async with spooled() as spool:
            try:
                await read_body(receive, spool, body_limit(scope, self.upload), self.body_timeout)
            except BodyTooLarge:
                limit = body_limit(scope, self.upload)
                error = APIError(
                    413, f"Request body is larger than the limit of {limit} bytes.", "api_error"
                )
                await error.response()(scope, receive, send)
                return
            except BodyTimeout:
                error = APIError(
                    408,
                    f"The request body stopped arriving for {self.body_timeout:g} seconds.",
                    headers={"Connection": "close"},
                )
                await error.response()(scope, receive, send)
                return
            await self._admitted(gate, scope, replaying(spool, receive), send)

    async def _admitted(self, gate: Gate, scope: Scope, receive: Receive, send: Send) -> None:
        if not await gate.enter():
            await busy().response()(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            gate.leave()
