"""`Idempotency-Key` support: a retried write gets the first reply and does nothing again.

An ASGI middleware, so it wraps every write route the same way; the rules a key follows
(principal scope, request fingerprint, lease, 24 h expiry, sends) are in
store/idempotency.py, which holds the SQL. Here:

* The key is scoped to the principal the credential names, resolved before the route runs
  (one hash lookup); a request whose credential names nobody is passed through untouched,
  and so are requests without one and the sign-in routes (`/connect/*`, `/oauth/*`),
  whose replies carry tokens.
* The body is read whole first (spooled to a temporary file past 1 MiB), since it is part
  of the request's fingerprint, and then handed on. A key reused for another request is
  a 422 that says so.
* Each claim is an attempt named after this engine process (a random boot id): while it
  runs here, its key is "in progress" (409, `Idempotent-Replayed: false`, which the SDK
  waits on) however long it takes; an attempt of a killed engine loses its key when the
  lease ends.
* A final reply (any status below 500 except 429) is stored before the client sees its end;
  anything else releases the key so the retry really runs. A reply carrying an access token
  or a client secret is never stored, whatever its route.
* A route that sends mail reaches the key through `request.state.idempotency` (a
  `KeyClaim`): it commits "DATA is starting" before the message can go out, and the reply
  it can give as soon as the SMTP server has accepted it, so that what fails afterwards
  can't make a retry send the message again.
"""

from __future__ import annotations

import json
import logging
import re
import secrets

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nylas_engine.api.bodies import BodyTooLarge, read_body, replaying, spooled
from nylas_engine.api.deps import basic_pair
from nylas_engine.api.errors import APIError
from nylas_engine.config import MAX_JSON_BYTES
from nylas_engine.context import EngineContext
from nylas_engine.store import idempotency as keys

log = logging.getLogger("nylas_engine")

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
MAX_KEY_LENGTH = 255
MAX_STORED_BODY = 4 * 1024 * 1024
# Routes whose replies hand out credentials: never replayed, so never stored.
UNSTORED_PREFIXES = ("/connect/", "/oauth/")
SECRET_NAMES = ("access_token", "client_secret", "refresh_token")
SECRET_FIELD = re.compile(rb'"(access_token|client_secret|refresh_token)"\s*:')
_APP_PATH = re.compile(r"^/a/([^/]+)(/|$)")


class KeyClaim:
    """A claimed key, as the route that runs the request sees it (sends use it)."""

    def __init__(self, ctx: EngineContext, row_id: int, attempt: str) -> None:
        self.ctx = ctx
        self.row_id = row_id
        self.attempt = attempt

    def send_starting(self, message_id: str) -> None:
        """Committed before DATA; a 409 (and no DATA) if a retry has taken the key over."""
        with self.ctx.db.session() as session:
            mine = keys.send_starting(session, self.row_id, self.attempt, message_id)
        if not mine:
            raise APIError(
                409,
                "A retry with this Idempotency-Key took it over while this request waited; "
                "this request did not send the message.",
            )

    def send_not_started(self) -> None:
        with self.ctx.db.session() as session:
            keys.send_not_started(session, self.row_id, self.attempt)

    def settle(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        with self.ctx.db.session() as session:
            keys.settle(session, self.row_id, self.attempt, status, content_type, body)


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp, ctx: EngineContext) -> None:
        self.app = app
        self.ctx = ctx
        # This process's attempts still running: their keys are never taken over, however
        # long they take; an attempt of another boot (a killed engine) ends with its lease.
        self.boot = secrets.token_hex(8)
        self.attempts: set[str] = set()

    def _running(self, attempt: str) -> bool | None:
        if attempt.startswith(self.boot + ":"):
            return attempt in self.attempts
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in WRITE_METHODS:
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        key = headers.get(b"idempotency-key", b"").decode("latin-1").strip()
        authorization = headers.get(b"authorization", b"").strip()
        path: str = scope["path"]
        if not key or not authorization or path.startswith(UNSTORED_PREFIXES):
            await self.app(scope, receive, send)
            return
        if len(key) > MAX_KEY_LENGTH:
            await _error(send, 400, f"Idempotency-Key is longer than {MAX_KEY_LENGTH} characters.")
            return
        # Spooled: an upload's body is not held in memory (past the first MiB) while waiting.
        async with spooled() as spool:
            try:
                body_digest = await read_body(receive, spool, self._body_limit())
            except BodyTooLarge:
                await _error(send, 413, "Request body is too large.", "api_error")
                return
            await self._keyed(scope, replaying(spool, receive), send, key, body_digest)

    async def _keyed(
        self, scope: Scope, receive: Receive, send: Send, key: str, body_digest: str
    ) -> None:
        headers = dict(scope.get("headers") or [])
        authorization = headers.get(b"authorization", b"").decode("latin-1")
        method, path = scope["method"], scope["path"]
        principal = await run_in_threadpool(self._principal, authorization, path)
        if principal is None:  # the route refuses it; nobody owns a key for it
            await self.app(scope, receive, send)
            return
        query = scope.get("query_string", b"")
        fingerprint = keys.fingerprint(method, path, query, body_digest)
        attempt = f"{self.boot}:{secrets.token_hex(8)}"
        self.attempts.add(attempt)  # before the claim: a retry must never see it as dead
        try:
            claim = await run_in_threadpool(
                self._claim, principal, key, fingerprint, method, path, attempt
            )
            await self._answer(scope, receive, send, claim)
        finally:
            self.attempts.discard(attempt)

    async def _answer(self, scope: Scope, receive: Receive, send: Send, claim: keys.Claim) -> None:
        if claim.kind == "replay":
            await _reply(send, claim.status, claim.content_type, claim.body, replayed=True)
        elif claim.kind == "in_progress":
            # "idempotent-replayed: false" tells the SDK to wait and ask again.
            await _error(
                send,
                409,
                "A request with this Idempotency-Key is still in progress.",
                replayed=False,
            )
        elif claim.kind == "mismatch":
            await _error(
                send,
                422,
                "This Idempotency-Key was already used for another request "
                f"({claim.method} {claim.path} with other parameters); "
                "use a new key for a new request.",
            )
        else:
            key = KeyClaim(self.ctx, claim.row_id, claim.attempt)
            scope.setdefault("state", {})["idempotency"] = key
            await self._run(scope, receive, send, key)

    async def _run(self, scope: Scope, receive: Receive, send: Send, key: KeyClaim) -> None:
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
            body = b"".join(chunks)
            final = 0 < status < 500 and status != 429 and size <= MAX_STORED_BODY
            if final and _carries_secret(body):
                final = False
            await run_in_threadpool(
                self._finish, key, status if final else None, content_type, body
            )

        async def capture(message: Message) -> None:
            nonlocal status, content_type, size
            if message["type"] == "http.response.start":
                status = message["status"]
                for name, value in message.get("headers", []):
                    if name.lower() == b"content-type":
                        content_type = value.decode("latin-1")
            elif message["type"] == "http.response.body":
                chunk = message.get("body", b"")
                size += len(chunk)
                if size <= MAX_STORED_BODY:
                    chunks.append(chunk)
                if not message.get("more_body", False):
                    # Stored before the client sees the end of the reply, so a retry sent
                    # right after it is replayed rather than told "in progress".
                    await finish()
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            await finish()

    def _body_limit(self) -> int:
        return max(MAX_JSON_BYTES, self.ctx.settings.max_upload_bytes) + 1024 * 1024

    def _principal(self, authorization: str, path: str) -> str | None:
        scheme, _, value = authorization.strip().partition(" ")
        scheme, value = scheme.lower(), value.strip()
        token: str | None = None
        if scheme == "bearer" and value:
            token = value
        elif scheme == "basic" and value:
            pair = basic_pair(value)
            if pair is None:
                return None
            user, password = pair
            app = _APP_PATH.match(path)
            if app is not None and password:
                # Basic "<client_id>:<client_secret>" on /a/{client_id}/...
                return keys.secret_principal(app.group(1), password)
            if app is not None and user:
                # Basic "<client_secret>:" (or an access token there; both cheap to tell
                # apart only by a lookup, so a secret is tried as a token first)
                token = user
                with self.ctx.db.session() as session:
                    found = keys.token_principal(session, token, "token")
                return found or keys.secret_principal(app.group(1), user)
            token = user or None
        if not token:
            return None
        with self.ctx.db.session() as session:
            return keys.token_principal(session, token, self.ctx.settings.auth_mode)

    def _claim(
        self, principal: str, key: str, fingerprint: str, method: str, path: str, attempt: str
    ) -> keys.Claim:
        settings = self.ctx.settings
        with self.ctx.db.session() as session:
            return keys.claim(
                session,
                principal,
                key,
                fingerprint,
                method,
                path,
                attempt=attempt,
                running=self._running,
                ttl=settings.idempotency_ttl,
                lease=settings.idempotency_lease,
            )

    def _finish(self, key: KeyClaim, status: int | None, content_type: str, body: bytes) -> None:
        """Keep or release the key. If the database fails here the reply still goes out,
        and the key is left to the next retry as a request that died (a send whose DATA
        had started then answers "outcome unknown", and is not sent again)."""
        try:
            with self.ctx.db.session() as session:
                if status is None:
                    keys.release(session, key.row_id, key.attempt)
                else:
                    keys.settle(session, key.row_id, key.attempt, status, content_type, body)
        except Exception:
            log.exception("Could not keep the reply for an Idempotency-Key")


def _carries_secret(body: bytes) -> bool:
    """Whether a reply hands out a credential: a top-level `access_token`, `client_secret`
    or `refresh_token` (a draft's metadata may hold such a key, which hands out nothing)."""
    if not SECRET_FIELD.search(body):
        return False
    try:
        data = json.loads(body)
    except ValueError:
        return True  # not JSON, yet it names one: keep nothing
    return isinstance(data, dict) and any(name in data for name in SECRET_NAMES)


async def _error(
    send: Send,
    status: int,
    message: str,
    type_: str = "invalid_request_error",
    *,
    replayed: bool | None = None,
) -> None:
    body = json.dumps({"message": message, "type": type_}).encode()
    await _reply(send, status, "application/json", body, replayed=replayed)


async def _reply(
    send: Send, status: int, content_type: str, body: bytes, *, replayed: bool | None
) -> None:
    headers = [
        (b"content-type", content_type.encode("latin-1")),
        (b"content-length", str(len(body)).encode()),
    ]
    if replayed is not None:
        headers.append((b"idempotent-replayed", b"true" if replayed else b"false"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
