"""Threads (docs/protocol.md §6): list with filters, get, update flags/folder/labels."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from nylas_engine.api.deps import AccountScope, account_scope, json_object, write_scope
from nylas_engine.api.errors import method_not_allowed, not_found
from nylas_engine.api.listing import list_response
from nylas_engine.api.openapi import doc, paged
from nylas_engine.api.params import check_id
from nylas_engine.api.query import MailQuery, ViewQuery
from nylas_engine.api.routing import SessionRoute
from nylas_engine.api.schemas import mail as shape
from nylas_engine.api.views.mail import one_thread_json, thread_page_json
from nylas_engine.store import messages, thread_rows, threads
from nylas_engine.store.models import Thread

router = APIRouter(route_class=SessionRoute)
THREAD_UPDATE = doc(reply=shape.Thread, body=shape.ThreadUpdate)


@router.get("/threads", **doc(reply=paged(shape.Thread)))
@router.get("/threads/", include_in_schema=False)
def list_threads(
    params: Annotated[MailQuery, Query()], scope: AccountScope = Depends(account_scope)
) -> Any:
    filters = messages.with_category_ids(scope.session, scope.account, params.filters())
    stmt = threads.list_threads(scope.account, filters)
    return list_response(
        params,
        scope.session,
        stmt,
        render_page=lambda threads, expanded: thread_page_json(
            scope.session, threads, scope.account, expanded
        ),
        load=thread_rows.page_rows,
    )


def _thread(scope: AccountScope, thread_id: str) -> Thread:
    thread = threads.find_thread(scope.session, scope.account, check_id(thread_id))
    if thread is None:
        raise not_found(f"Couldn't find thread `{thread_id}`")
    return thread


@router.get("/threads/{thread_id}", **doc(reply=shape.Thread))
def get_thread(
    thread_id: str,
    params: Annotated[ViewQuery, Query()],
    scope: AccountScope = Depends(account_scope),
) -> Any:
    thread = _thread(scope, thread_id)
    return one_thread_json(scope.session, thread, scope.account, params.expanded)


@router.put("/threads/{thread_id}", **THREAD_UPDATE)
@router.patch("/threads/{thread_id}", **THREAD_UPDATE)
def update_thread(
    thread_id: str,
    params: Annotated[ViewQuery, Query()],
    body: dict[str, Any] = Depends(json_object),
    scope: AccountScope = Depends(write_scope),
) -> Any:
    thread = threads.update_thread(scope.session, scope.account, _thread(scope, thread_id), body)
    return one_thread_json(scope.session, thread, scope.account, params.expanded)


@router.delete("/threads/{thread_id}", include_in_schema=False)
def delete_thread(thread_id: str, scope: AccountScope = Depends(write_scope)) -> Any:
    """Threads are not deleted through the API, like messages (405, not the old "not yet
    implemented" 501). Hosted v2 moved the thread's messages to the trash here; with the
    engine a client does that with PUT {"folder_id": <trash>} or {"label_ids": [...]}."""
    raise method_not_allowed("GET, PUT, PATCH")
