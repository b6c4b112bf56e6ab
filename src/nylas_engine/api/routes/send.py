"""POST /send (docs/protocol.md §9): a saved draft, a draft given inline, or raw MIME.

Once the SMTP server has accepted the message the reply is 200, even if recording the
message as sent then fails (it did go out; the reply is the message as it was sent); a
request with an Idempotency-Key keeps that reply from the moment of acceptance, and has
recorded, before DATA, that its message may be going out (see api/idempotency.py).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from nylas_engine.api.deps import AccountScope, json_object, write_scope
from nylas_engine.api.errors import APIError
from nylas_engine.api.idempotency import KeyClaim
from nylas_engine.api.openapi import doc
from nylas_engine.api.routing import SessionRoute
from nylas_engine.api.schemas import mail as shape
from nylas_engine.api.views.mail import message_json
from nylas_engine.config import MAX_JSON_BYTES
from nylas_engine.send import outbox
from nylas_engine.send.errors import SendError
from nylas_engine.store.models import Account, Message

RFC822 = "message/rfc822"
router = APIRouter(route_class=SessionRoute)
SEND_DOC = doc(402, 409, 429, reply=shape.Message, body=shape.SendInput)
SEND_DOC["openapi_extra"]["requestBody"]["content"][RFC822] = {
    "schema": {"type": "string", "format": "binary"}
}
log = logging.getLogger("nylas_engine.send")


async def send_payload(request: Request) -> bytes | dict[str, Any]:
    """Raw MIME bytes for `Content-Type: message/rfc822`, else the JSON object."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == RFC822:
        return await _bounded_body(request)
    return await json_object(request)


async def _bounded_body(request: Request) -> bytes:
    """The whole body, but 413 past the limit even when no Content-Length was declared."""
    settings = request.app.state.ctx.settings
    limit = max(MAX_JSON_BYTES, settings.max_upload_bytes)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise APIError(
                413, f"Request body is larger than the limit of {limit} bytes.", "api_error"
            )
        chunks.append(chunk)
    return b"".join(chunks)


class Witness:
    """A send's progress, told to the request's Idempotency-Key (if it has one); keeps the
    reply that is due once the SMTP server has accepted the message."""

    def __init__(self, account: Account, key: KeyClaim | None) -> None:
        self.account = account
        self.key = key
        self.started = False
        self.known: dict[str, Any] = {}

    def starting(self, message_id: str) -> None:
        if self.key is not None:
            self.key.send_starting(message_id)
        self.started = True

    def not_sent(self) -> None:
        if self.key is not None and self.started:
            self.key.send_not_started()

    def accepted(self, message: Message, partial: SendError | None) -> None:
        if partial is not None:
            self.known = partial.body()
        else:
            self.known = {
                **message_json(message, self.account, with_body=False),
                "body": message.body,
                "events": [],
            }
        if self.key is None:
            return
        try:
            self.key.settle(200, json.dumps(self.known).encode())
        except Exception:  # the message went out: this must not fail the send
            log.exception("Could not keep the reply of a delivered message for its key")


@router.post("/send", **SEND_DOC)
@router.post("/send/", include_in_schema=False)
@router.post("/send-with-features", include_in_schema=False)
def send(
    request: Request,
    scope: AccountScope = Depends(write_scope),  # first: no body is read before auth
    payload: bytes | dict[str, Any] = Depends(send_payload),
) -> Any:
    session, ctx, account = scope.session, scope.ctx, scope.account
    witness = Witness(account, getattr(request.state, "idempotency", None))
    if isinstance(payload, bytes):
        sent = outbox.send_raw(session, ctx, account, payload, witness)
    elif payload.get("draft_id") is not None:
        sent = outbox.send_saved_draft(session, ctx, account, payload, witness)
    else:
        sent = outbox.send_inline(session, ctx, account, payload, witness)
    if not sent.recorded:
        return JSONResponse(witness.known, status_code=200)
    if sent.partial is not None:
        # Delivered to some recipients only: 200 with the error body (docs/protocol.md §2.2).
        return JSONResponse(sent.partial.body(), status_code=200)
    return message_json(sent.message, account)
