"""POST /send (wire-api §9): a saved draft, a draft given inline, or raw MIME."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from nylas_engine.api.deps import AccountScope, json_object, write_scope
from nylas_engine.api.errors import APIError
from nylas_engine.api.routing import SessionRoute
from nylas_engine.api.views.mail import message_json
from nylas_engine.config import MAX_JSON_BYTES
from nylas_engine.send import outbox

router = APIRouter(route_class=SessionRoute)

RFC822 = "message/rfc822"


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


@router.post("/send")
@router.post("/send/", include_in_schema=False)
@router.post("/send-with-features", include_in_schema=False)
def send(
    scope: AccountScope = Depends(write_scope),  # first: no body is read before auth
    payload: bytes | dict[str, Any] = Depends(send_payload),
) -> Any:
    session, ctx, account = scope.session, scope.ctx, scope.account
    if isinstance(payload, bytes):
        sent = outbox.send_raw(session, ctx, account, payload)
    elif payload.get("draft_id") is not None:
        sent = outbox.send_saved_draft(session, ctx, account, payload)
    else:
        sent = outbox.send_inline(session, ctx, account, payload)
    if sent.partial is not None:
        # Delivered to some recipients only: 200 with the error body (wire-api §2.2).
        return JSONResponse(sent.partial.body(), status_code=200)
    return message_json(sent.message, account)
