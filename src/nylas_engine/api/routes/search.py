"""Search (docs/protocol.md §14): /threads/search and /messages/search, plain or streaming.

Mounted before the threads and messages routers so `/threads/search` is never read as a
thread id. The streaming variants write one JSON array per line, one batch at a time, from
a session of their own per batch (none is held while the client reads).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session

from nylas_engine.api.deps import AccountScope, write_scope
from nylas_engine.api.errors import bad_request
from nylas_engine.api.metadata_query import refuse_metadata_filters
from nylas_engine.api.openapi import doc, paged
from nylas_engine.api.query import SearchQuery, StreamSearchQuery, ThreadSearchQuery
from nylas_engine.api.replies import json_reply
from nylas_engine.api.routing import SessionRoute
from nylas_engine.api.schemas.mail import Message, Thread
from nylas_engine.api.views.mail import message_json, thread_page_json
from nylas_engine.blank import is_blank
from nylas_engine.search import count_threads, search_messages, search_threads
from nylas_engine.store.models import Account

# Their objects carry no metadata: a metadata_* filter is refused, not ignored.
router = APIRouter(route_class=SessionRoute, dependencies=[Depends(refuse_metadata_filters)])

STREAM_BATCH = 100
COUNT_CAP = 100_000

Search = Callable[..., list[Any]]


def _q(params: StreamSearchQuery) -> str:
    if is_blank(params.q):
        raise bad_request(params.missing)
    return params.q


@router.get("/threads/search", **doc(reply=paged(Thread)))
def search_thread_list(
    params: Annotated[ThreadSearchQuery, Query()], scope: AccountScope = Depends(write_scope)
) -> Any:
    q, view, page = _q(params), params.view, params.page()
    if view == "count":
        return {"count": count_threads(scope.session, scope.account, q, COUNT_CAP)}
    threads = search_threads(scope.session, scope.account, q, page.limit, page.offset)
    if view == "ids":
        return json_reply([t.public_id for t in threads])
    return json_reply(thread_page_json(scope.session, threads, scope.account, view == "expanded"))


@router.get("/messages/search", **doc(reply=list[Message]))
def search_message_list(
    params: Annotated[SearchQuery, Query()], scope: AccountScope = Depends(write_scope)
) -> Any:
    q, page = _q(params), params.page()
    found = search_messages(scope.session, scope.account, q, page.limit, page.offset)
    return json_reply([message_json(m, scope.account) for m in found])


def _stream(scope: AccountScope, q: str, search: Search, render: Callable[..., Any]) -> Any:
    db, account_id = scope.ctx.db, scope.account.id

    def batch_at(offset: int) -> tuple[bytes, int] | None:
        """One line of the stream and how many results it holds (None: nothing more)."""
        with db.session() as session:
            account = session.get(Account, account_id)
            if account is None:
                return None
            batch = search(session, account, q, STREAM_BATCH, offset)
            if not batch and offset:
                return None
            payload = render(session, batch, account)
            return json.dumps(payload, separators=(",", ":")).encode() + b"\n", len(batch)

    def lines() -> Iterator[bytes]:
        # A session per batch: none is open while the client reads what was sent.
        offset = 0
        while (found := batch_at(offset)) is not None:
            line, count = found
            yield line
            if count < STREAM_BATCH:  # an empty first batch still sends `[]`
                return
            offset += count

    return StreamingResponse(lines(), media_type="text/json-stream")


@router.get("/threads/search/streaming", **doc(media="text/json-stream"))
def stream_thread_search(
    params: Annotated[StreamSearchQuery, Query()], scope: AccountScope = Depends(write_scope)
) -> Any:
    return _stream(scope, _q(params), search_threads, thread_page_json)


@router.get("/messages/search/streaming", **doc(media="text/json-stream"))
def stream_message_search(
    params: Annotated[StreamSearchQuery, Query()], scope: AccountScope = Depends(write_scope)
) -> Any:
    return _stream(scope, _q(params), search_messages, _messages_json)


def _messages_json(_session: Session, messages: list[Any], account: Account) -> list[Any]:
    return [message_json(m, account) for m in messages]
