"""Messages (docs/protocol.md §7): list with filters, get (JSON, expanded headers or raw MIME),
update flags/folder/labels. Messages are never deleted through the API (405)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from nylas_engine.api.deps import AccountScope, account_scope, json_object, write_scope
from nylas_engine.api.errors import bad_request, method_not_allowed, not_found
from nylas_engine.api.listing import list_response
from nylas_engine.api.openapi import doc, paged
from nylas_engine.api.params import check_id
from nylas_engine.api.query import ListQuery, MailQuery, ViewQuery
from nylas_engine.api.replies import json_reply
from nylas_engine.api.routing import SessionRoute
from nylas_engine.api.schemas import mail as shape
from nylas_engine.api.views.mail import message_json
from nylas_engine.store import message_rows, messages
from nylas_engine.store.message_rows import MessageRow
from nylas_engine.store.models import Message

router = APIRouter(route_class=SessionRoute)
MESSAGE_UPDATE = doc(reply=shape.Message, body=shape.MessageUpdate)

RFC822 = "message/rfc822"
MAX_IDS = 100  # ids in one GET /messages/{id},{id},...


@router.get("/messages", **doc(reply=paged(shape.Message)))
@router.get("/messages/", include_in_schema=False)
def list_messages(
    params: Annotated[MailQuery, Query()], scope: AccountScope = Depends(account_scope)
) -> Any:
    filters = messages.with_category_ids(scope.session, scope.account, params.filters())
    stmt = messages.list_messages(scope.account, filters)
    return list_response(
        params,
        scope.session,
        stmt,
        lambda message, expanded: message_json(message, scope.account, expanded),
        load=message_rows.page_rows,
    )


def _message(scope: AccountScope, message_id: str) -> Message:
    message = messages.find_message(scope.session, scope.account, check_id(message_id))
    if message is None:
        raise not_found(f"Couldn't find message {message_id}")
    return message


def _wants_raw(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return any(part.split(";")[0].strip().lower() == RFC822 for part in accept.split(","))


@router.get("/messages/{message_id}", **doc(reply=shape.Message | list[shape.Message]))
def get_message(
    message_id: str,
    request: Request,
    params: Annotated[ListQuery, Query()],
    scope: AccountScope = Depends(account_scope),
) -> Any:
    """One message; or, for `{id},{id},...` (the Node SDK's findMultiple), a list of the
    ones found, in the order asked, paged with `limit`/`offset` like any list."""
    if "," in message_id:
        return _several(request, params, scope, message_id)
    message = message_rows.find_message_row(scope.session, scope.account, check_id(message_id))
    if message is None:
        raise not_found(f"Couldn't find message {message_id}")
    if _wants_raw(request):
        return _raw(scope, message)
    return json_reply(message_json(message, scope.account, params.expanded))


def _several(request: Request, params: ListQuery, scope: AccountScope, joined: str) -> Any:
    parts = joined.split(",")
    if len(parts) > MAX_IDS:
        raise bad_request(f"At most {MAX_IDS} message ids can be read at once.")
    ids = list(dict.fromkeys(check_id(part.strip()) for part in parts))
    if _wants_raw(request):
        raise bad_request("Raw messages (message/rfc822) are read one at a time.")
    return list_response(
        params,
        scope.session,
        messages.messages_by_ids(scope.account, ids),
        lambda message, expanded: message_json(message, scope.account, expanded),
    )


def _raw(scope: AccountScope, message: MessageRow) -> StreamingResponse:
    """The message exactly as received, streamed from the blob store."""
    if message.is_draft or not message.raw_sha256:
        raise not_found(f"Couldn't find raw data for message {message.public_id}")
    if not scope.ctx.blobs.exists(message.raw_sha256):
        raise not_found("The data was deleted on the email server.")
    return StreamingResponse(scope.ctx.blobs.iter_chunks(message.raw_sha256), media_type=RFC822)


@router.put("/messages/{message_id}", **MESSAGE_UPDATE)
@router.patch("/messages/{message_id}", **MESSAGE_UPDATE)
def update_message(
    message_id: str,
    params: Annotated[ViewQuery, Query()],
    body: dict[str, Any] = Depends(json_object),
    scope: AccountScope = Depends(write_scope),
) -> Any:
    message = messages.update_message(
        scope.session, scope.account, _message(scope, message_id), body
    )
    return message_json(message, scope.account, params.expanded)


@router.delete("/messages/{message_id}", include_in_schema=False)
def delete_message(message_id: str, scope: AccountScope = Depends(write_scope)) -> Any:
    raise method_not_allowed("GET, PUT, PATCH")
