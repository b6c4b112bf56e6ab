"""Request bodies read ahead of the route: spooled (in memory up to 1 MiB, then on disk),
bounded in size, and given a deadline between chunks, then handed to the app again.

Admission control (api/admission.py) reads a request's body this way before the request takes
one of the engine's few working slots, so a client that sends its headers and then its body
slowly (or never) holds only its own connection, not a slot others need; a body that stops
arriving for `body_timeout` seconds is answered 408. The Idempotency-Key middleware reads the
body the same way to compare it with a stored request's.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import IO

import anyio
from starlette.types import Message, Receive, Scope

from nylas_engine.config import MAX_JSON_BYTES

SPOOL_IN_MEMORY = 1024 * 1024
REPLAY_CHUNK = 64 * 1024
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class BodyTooLarge(Exception):
    """More than the limit arrived."""


class BodyTimeout(Exception):
    """The client stopped sending its body."""


def body_limit(scope: Scope, max_upload_bytes: int) -> int:
    """The most a request's body may hold: a multipart upload the upload limit (plus room for
    the form's parts), a raw MIME message as much, anything else a JSON document's limit."""
    ctype = dict(scope.get("headers") or []).get(b"content-type", b"")
    if ctype.startswith(b"multipart/"):
        return max_upload_bytes + 1024 * 1024
    if ctype.startswith(b"message/rfc822"):
        return max(MAX_JSON_BYTES, max_upload_bytes)
    return MAX_JSON_BYTES


def has_body(scope: Scope) -> bool:
    """Whether the request announces a body: a Content-Length above 0, or chunked."""
    if scope["method"] not in BODY_METHODS:
        return False
    headers = dict(scope.get("headers") or [])
    length = headers.get(b"content-length", b"").strip()
    if length:
        return bool(length != b"0")
    return b"chunked" in headers.get(b"transfer-encoding", b"").lower()


async def read_body(
    receive: Receive, spool: IO[bytes], limit: int, idle_timeout: float | None = None
) -> str:
    """Copy the request body into `spool`; returns its SHA-256. `BodyTooLarge` past `limit`
    bytes, `BodyTimeout` when no chunk came for `idle_timeout` seconds."""
    digest = hashlib.sha256()
    size = 0
    while True:
        message: Message | None = None
        with anyio.move_on_after(idle_timeout):  # None: no deadline
            message = await receive()
        if message is None:
            raise BodyTimeout
        if message["type"] != "http.request":  # the client left
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        digest.update(chunk)
        spool.write(chunk)
        if not message.get("more_body", False):
            break
    return digest.hexdigest()


def replaying(spool: IO[bytes], receive: Receive) -> Receive:
    """A `receive` that hands the app the body already read, then the client's own events."""
    spool.seek(0)
    done = False

    async def replay() -> Message:
        nonlocal done
        if done:
            return await receive()
        chunk = spool.read(REPLAY_CHUNK)
        done = len(chunk) < REPLAY_CHUNK
        return {"type": "http.request", "body": chunk, "more_body": not done}

    return replay


@asynccontextmanager
async def spooled() -> AsyncIterator[IO[bytes]]:
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as spool:
        yield spool
