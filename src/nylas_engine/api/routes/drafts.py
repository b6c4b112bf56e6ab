"""Drafts (docs/protocol.md §8): list, get, create, update (versioned), delete (versioned)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from nylas_engine.api.deps import AccountScope, account_scope, json_object, write_scope
from nylas_engine.api.listing import list_response
from nylas_engine.api.openapi import doc, paged
from nylas_engine.api.query import MailQuery, VersionQuery
from nylas_engine.api.routing import SessionRoute
from nylas_engine.api.schemas.mail import DraftInput, DraftUpdate, DraftVersion, Message
from nylas_engine.api.views.mail import message_json
from nylas_engine.store import drafts, messages

router = APIRouter(route_class=SessionRoute)
DRAFT_UPDATE = doc(409, reply=Message, body=DraftUpdate)


@router.get("/drafts", **doc(reply=paged(Message)))
@router.get("/drafts/", include_in_schema=False)
def list_drafts(
    params: Annotated[MailQuery, Query()], scope: AccountScope = Depends(account_scope)
) -> Any:
    filters = messages.with_category_ids(scope.session, scope.account, params.filters())
    stmt = drafts.list_drafts(scope.account, filters)
    return list_response(
        params,
        scope.session,
        stmt,
        lambda draft, expanded: message_json(draft, scope.account, expanded),
    )


@router.get("/drafts/{draft_id}", **doc(reply=Message))
def get_draft(draft_id: str, scope: AccountScope = Depends(account_scope)) -> Any:
    return message_json(drafts.find_draft(scope.session, scope.account, draft_id), scope.account)


@router.post("/drafts", **doc(reply=Message, body=DraftInput))
@router.post("/drafts/", include_in_schema=False)
def create_draft(
    body: dict[str, Any] = Depends(json_object), scope: AccountScope = Depends(write_scope)
) -> Any:
    inp = drafts.parse_input(scope.session, scope.account, body, new=True)
    return message_json(drafts.create_draft(scope.session, scope.account, inp), scope.account)


@router.put("/drafts/{draft_id}", **DRAFT_UPDATE)
@router.patch("/drafts/{draft_id}", **DRAFT_UPDATE)
def update_draft(
    draft_id: str,
    body: dict[str, Any] = Depends(json_object),
    scope: AccountScope = Depends(write_scope),
) -> Any:
    draft = drafts.draft_for_write(scope.session, scope.account, draft_id, body.get("version"))
    inp = drafts.parse_input(scope.session, scope.account, body, new=False)
    return message_json(drafts.update_draft(draft, inp), scope.account)


@router.delete("/drafts/{draft_id}", **doc(409, reply=None, body=DraftVersion))
def delete_draft(
    draft_id: str,
    params: Annotated[VersionQuery, Query()],
    body: dict[str, Any] = Depends(json_object),
    scope: AccountScope = Depends(write_scope),
) -> Any:
    version = body.get("version", params.version)
    drafts.delete_draft(drafts.draft_for_write(scope.session, scope.account, draft_id, version))
    return None
