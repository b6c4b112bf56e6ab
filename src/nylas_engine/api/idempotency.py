"""`Idempotency-Key` support: a retried write gets the first reply and does nothing again.

An ASGI middleware, so it wraps every write route the same way. The first request with a key
claims it (a unique row per credential + key); its reply is stored when it is final (any
status below 500 except 429) and replayed to later requests with the same key. A request
that arrives while the first is still running gets 409. A reply that is not final (5xx, 429)
releases the key so that the retry really runs again; nothing was done in those cases.
Requests without an `Authorization` header are passed through untouched.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nylas_engine.context import EngineContext
from nylas_engine.store.models import IdempotentResponse

WRITE_METHODS = {b"POST", b"PUT", b"PATCH", b"DELETE", "POST", "PUT", "PATCH", "DELETE"}
MAX_STORED_BODY = 4 * 1024 * 1024


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp, ctx: EngineContext) -> None:
        self.app = app
        self.ctx = ctx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in WRITE_METHODS:
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        key = headers.get(b"idempotency-key", b"").decode("latin-1").strip()
        # Replies are stored per credential; a request without one (e.g. /oauth/token, whose
        # secrets travel in the body) has no owner to scope them to, so it is never replayed.
        if not key or len(key) > 255 or not headers.get(b"authorization"):
            await self.app(scope, receive, send)
            return
        # Scoped to the credential, so two clients can never see each other's replies.
        owner = hashlib.sha256(headers.get(b"authorization", b"")).hexdigest()
        from starlette.concurrency import run_in_threadpool

        claimed, stored = await run_in_threadpool(
            self._claim, owner, key, scope["method"], scope["path"]
        )
        if not claimed:
            await self._replay(stored, send)
            return

        status = 0
        content_type = "application/json"
        chunks: list[bytes] = []
        size = 0
        finished = False

        async def finish() -> None:
            nonlocal finished
            if finished:
                return
            finished = True
            final = 0 < status < 500 and status != 429 and size <= MAX_STORED_BODY
            await run_in_threadpool(
                self._finish, owner, key, status if final else None, content_type, b"".join(chunks)
            )

        async def capture(message: Message) -> None:
            nonlocal status, content_type, size
            if message["type"] == "http.response.start":
                status = message["status"]
                for name, value in message.get("headers", []):
                    if name.lower() == b"content-type":
                        content_type = value.decode("latin-1")
            elif message["type"] == "http.response.body":
                body = message.get("body", b"")
                size += len(body)
                if size <= MAX_STORED_BODY:
                    chunks.append(body)
                if not message.get("more_body", False):
                    # Stored before the client sees the end of the reply, so a retry sent
                    # right after it is replayed rather than told "in progress".
                    await finish()
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            await finish()

    def _claim(self, owner: str, key: str, method: str, path: str) -> tuple[bool, Any]:
        with self.ctx.db.session() as session:
            try:
                with session.begin_nested():
                    session.add(IdempotentResponse(scope=owner, key=key, method=method, path=path))
                return True, None
            except IntegrityError:
                pass
        with self.ctx.db.session() as session:
            row = session.scalar(
                select(IdempotentResponse).where(
                    IdempotentResponse.scope == owner, IdempotentResponse.key == key
                )
            )
            if row is None:  # released in between: treat as in progress, client may retry
                return False, None
            return False, (row.status_code, row.content_type, row.body, row.method, row.path)

    def _finish(
        self, owner: str, key: str, status: int | None, content_type: str, body: bytes
    ) -> None:
        with self.ctx.db.session() as session:
            where = (IdempotentResponse.scope == owner, IdempotentResponse.key == key)
            if status is None:
                session.execute(delete(IdempotentResponse).where(*where))
                return
            row = session.scalar(select(IdempotentResponse).where(*where))
            if row is not None:
                row.status_code, row.content_type, row.body = status, content_type, body

    async def _replay(self, stored: Any, send: Send) -> None:
        if stored is None or stored[0] == 0:
            status, ctype = 409, "application/json"
            body = json.dumps(
                {
                    "message": "A request with this Idempotency-Key is still in progress.",
                    "type": "invalid_request_error",
                }
            ).encode()
            replayed = b"false"
        else:
            status, ctype, body = stored[0], stored[1], stored[2]
            replayed = b"true"
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", ctype.encode("latin-1")),
                    (b"content-length", str(len(body)).encode()),
                    (b"idempotent-replayed", replayed),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
