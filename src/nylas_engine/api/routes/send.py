"""POST /send (wire-api §9): a saved draft, a draft given inline, or raw MIME."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from nylas_engine.api.deps import AccountScope, json_object, write_scope
from nylas_engine.api.views.mail import message_json
from nylas_engine.send import outbox

router = APIRouter()

RFC822 = "message/rfc822"


async def send_payload(request: Request) -> bytes | dict[str, Any]:
    """Raw MIME bytes for `Content-Type: message/rfc822`, else the JSON object."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == RFC822:
        return await request.body()
    return await json_object(request)


@router.post("/send")
@router.post("/send/", include_in_schema=False)
@router.post("/send-with-features", include_in_schema=False)
def send(
    payload: bytes | dict[str, Any] = Depends(send_payload),
    scope: AccountScope = Depends(write_scope),
) -> Any:
    session, blobs, account = scope.session, scope.ctx.blobs, scope.account
    if isinstance(payload, bytes):
        sent = outbox.send_raw(session, blobs, account, payload)
    elif "draft_id" in payload:
        sent = outbox.send_saved_draft(session, blobs, account, payload)
    else:
        sent = outbox.send_inline(session, blobs, account, payload)
    if sent.partial is not None:
        # Delivered to some recipients only: 200 with the error body (wire-api §2.2).
        return JSONResponse(sent.partial.body(), status_code=200)
    return message_json(sent.message, account)
