"""Search (wire-api §14): /threads/search and /messages/search, plain or streaming.

Mounted before the threads and messages routers so `/threads/search` is never read as a
thread id. The streaming variants write one JSON array per line, one batch at a time, from
a session of their own (the request's session is closed once the handler returns).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from nylas_engine.api.deps import AccountScope, write_scope
from nylas_engine.api.errors import bad_request
from nylas_engine.api.params import Query
from nylas_engine.api.views.mail import message_json, thread_json
from nylas_engine.search import search_messages, search_threads
from nylas_engine.store.models import Account

router = APIRouter()

STREAM_BATCH = 100
COUNT_CAP = 100_000

Search = Callable[..., list[Any]]


def _q(query: Query) -> str:
    q = query.string("q")
    if q is None or not q.strip():
        raise bad_request("GET HTTP method must include query url parameter")
    return q


@router.get("/threads/search")
def search_thread_list(request: Request, scope: AccountScope = Depends(write_scope)) -> Any:
    query = Query(request)
    q = _q(query)
    view = query.view()  # later SDK 5 releases send `view` here; hosted accepted it
    if view == "count":
        found = search_threads(scope.session, scope.account, q, COUNT_CAP, 0)
        return {"count": len(found)}
    page = query.page()
    threads = search_threads(scope.session, scope.account, q, page.limit, page.offset)
    if view == "ids":
        return [t.public_id for t in threads]
    return [thread_json(t, scope.account, view == "expanded") for t in threads]


@router.get("/messages/search")
def search_message_list(request: Request, scope: AccountScope = Depends(write_scope)) -> Any:
    query = Query(request)
    q = _q(query)
    page = query.page()
    found = search_messages(scope.session, scope.account, q, page.limit, page.offset)
    return [message_json(m, scope.account) for m in found]


def _stream(scope: AccountScope, q: str, search: Search, render: Callable[..., Any]) -> Any:
    db, account_id = scope.ctx.db, scope.account.id

    def lines() -> Iterator[bytes]:
        with db.session() as session:
            account = session.get(Account, account_id)
            offset = 0
            while account is not None:
                batch = search(session, account, q, STREAM_BATCH, offset)
                if not batch and offset:
                    return
                payload = [render(item, account) for item in batch]
                yield json.dumps(payload, separators=(",", ":")).encode() + b"\n"
                if len(batch) < STREAM_BATCH:  # an empty first batch still sends `[]`
                    return
                offset += len(batch)

    return StreamingResponse(lines(), media_type="text/json-stream")


@router.get("/threads/search/streaming")
def stream_thread_search(request: Request, scope: AccountScope = Depends(write_scope)) -> Any:
    return _stream(scope, _q(Query(request)), search_threads, thread_json)


@router.get("/messages/search/streaming")
def stream_message_search(request: Request, scope: AccountScope = Depends(write_scope)) -> Any:
    return _stream(scope, _q(Query(request)), search_messages, message_json)
