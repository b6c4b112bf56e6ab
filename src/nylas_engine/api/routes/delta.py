"""Delta sync (docs/protocol.md §15): cursors, one page at a time, long-polling and streaming.

GET /delta is a plain route. The long-lived ones (longpoll, streaming) are `async` and hold
neither a database session nor a threadpool thread while they wait: each check of the log
runs in the threadpool with a session of its own, and the waiting is an asyncio sleep.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from nylas_engine.api.deps import AccountScope, account_scope, get_ctx, json_object
from nylas_engine.api.errors import bad_request
from nylas_engine.api.openapi import doc
from nylas_engine.api.query import DeltaQuery, WaitQuery
from nylas_engine.api.routing import SessionRoute
from nylas_engine.api.schemas import admin
from nylas_engine.api.views.registry import RenderContext, deltas_json
from nylas_engine.context import EngineContext
from nylas_engine.ids import is_valid_public_id
from nylas_engine.scopes import Grants
from nylas_engine.store import delta
from nylas_engine.store.models import Account

router = APIRouter(route_class=SessionRoute)
LONGPOLL_TIMEOUT = 120.0
STREAM_TIMEOUT = 1800.0
POLL_INTERVAL = 0.5  # longpoll: how often the log is checked while waiting
KEEPALIVE_INTERVAL = 1.0  # streaming: a bare "\n" this often while nothing changes
STREAM_BATCH = 100  # streaming: transactions read per check


@dataclass(frozen=True)
class DeltaArgs:
    """The parameters every delta endpoint shares, checked before any database work."""

    cursor: str
    types: delta.TypeFilter
    expanded: bool
    limit: int
    base_url: str  # for URLs inside objects (a contact's picture_url)


def delta_args(params: DeltaQuery, request: Request, grants: Grants) -> DeltaArgs:
    """`grants`: object types the token's scopes do not cover are left out of every page."""
    if params.cursor != delta.START and not is_valid_public_id(params.cursor):
        raise bad_request("Invalid cursor parameter")
    include, exclude = params.include_types, params.exclude_types
    if include is not None and exclude is not None:
        raise bad_request("Invalid Request. Cannot specify both include_types and exclude_types")
    hidden = set(exclude or ()) | grants.hidden_delta_types()
    # Unlike the old open-source engine, folder and label deltas are shown unless excluded.
    if params.exclude_folders:
        hidden |= {"folder", "label"}
    if params.exclude_account:
        hidden.add("account")
    if params.exclude_metadata:
        hidden.add("metadata")
    return DeltaArgs(
        cursor=params.cursor,
        types=delta.TypeFilter(include, frozenset(hidden)),
        expanded=params.view == "expanded",
        limit=max(1, params.limit),
        base_url=str(request.base_url).rstrip("/"),
    )


def _timeout(params: WaitQuery, default: float) -> float:
    return default if params.timeout is None else params.timeout


def _start(session: Any, account: Account, cursor: str) -> int:
    position = delta.position_of(session, account, cursor)
    if position is None:
        raise bad_request("Invalid cursor parameter")
    return position


def _page(
    session: Any, account: Account, args: DeltaArgs, start: int
) -> tuple[dict[str, Any], int]:
    """The response body for the page after `start` (whose cursor is `args.cursor`), and the
    position the next page starts from."""
    page = delta.page_after(session, account, start, args.types, args.limit)
    body = {
        "cursor_start": args.cursor,
        "deltas": deltas_json(
            page.items, RenderContext(session, account, args.expanded, args.base_url)
        ),
        "cursor_end": page.end_cursor or args.cursor,
    }
    return body, page.end


# ------------------------------------------------------------------------- long-lived requests


def account_id(request: Request, ctx: EngineContext = Depends(get_ctx)) -> tuple[int, Grants]:
    """Authenticate like every route, but give the session back at once: the long-lived
    endpoints open a short session per check instead of holding one for minutes."""
    with ctx.db.session() as session:
        scope = account_scope(request, ctx, session)
        return scope.account.id, scope.grants


def _check_cursor(ctx: EngineContext, account_pk: int, cursor: str) -> int:
    with ctx.db.session() as session:
        return _start(session, _account(session, account_pk), cursor)


def _account(session: Any, account_pk: int) -> Account:
    account: Account | None = session.get(Account, account_pk)
    if account is None:
        raise bad_request("The account does not exist.")
    return account


def _poll(
    ctx: EngineContext, account_pk: int, args: DeltaArgs, start: int
) -> tuple[dict[str, Any], int]:
    """One look at the log, in a session of its own."""
    with ctx.db.session() as session:
        return _page(session, _account(session, account_pk), args, start)


# ------------------------------------------------------------------------------------ routes


@router.post("/delta/latest_cursor", **doc(reply=admin.Cursor))
def latest_cursor(scope: AccountScope = Depends(account_scope)) -> Any:
    return {"cursor": delta.latest_cursor(scope.session, scope.account)}


@router.post("/delta/generate_cursor", **doc(reply=admin.Cursor, body=admin.CursorStart))
def generate_cursor(
    body: dict[str, Any] = Depends(json_object), scope: AccountScope = Depends(account_scope)
) -> Any:
    start = body.get("start")
    if set(body) != {"start"} or not isinstance(start, int) or isinstance(start, bool):
        raise bad_request(
            'generate_cursor request body must have the format {"start": <Unix timestamp> '
            "(seconds)}"
        )
    return {"cursor": delta.cursor_before(scope.session, scope.account, start)}


@router.get("/delta", **doc(reply=admin.Delta))
@router.get("/delta/", include_in_schema=False)
def get_delta(
    params: Annotated[DeltaQuery, Query()],
    request: Request,
    scope: AccountScope = Depends(account_scope),
) -> Any:
    args = delta_args(params, request, scope.grants)
    start = _start(scope.session, scope.account, args.cursor)
    return _page(scope.session, scope.account, args, start)[0]


@router.get("/delta/longpoll", **doc(media="application/json"))
async def longpoll(
    params: Annotated[WaitQuery, Query()],
    request: Request,
    ctx: EngineContext = Depends(get_ctx),
    authed: tuple[int, Grants] = Depends(account_id),
) -> Any:
    """The next page as soon as it has a delta, else an empty page after `timeout`."""
    account_pk, grants = authed
    args = delta_args(params, request, grants)
    deadline = time.monotonic() + _timeout(params, LONGPOLL_TIMEOUT)
    position = await run_in_threadpool(_check_cursor, ctx, account_pk, args.cursor)
    while True:
        body, position = await run_in_threadpool(_poll, ctx, account_pk, args, position)
        remaining = deadline - time.monotonic()
        if body["deltas"] or remaining <= 0 or await request.is_disconnected():
            return body
        await _pause(request, account_pk, min(POLL_INTERVAL, remaining))


@router.get("/delta/streaming", **doc(media="text/event-stream"))
async def streaming(
    params: Annotated[WaitQuery, Query()],
    request: Request,
    ctx: EngineContext = Depends(get_ctx),
    authed: tuple[int, Grants] = Depends(account_id),
) -> Any:
    """Deltas as they happen, one compact JSON object per line (not SSE framing, although the
    old engine called it text/event-stream); a bare newline about every second keeps the
    connection alive. Starlette stops the generator when the client goes away."""
    account_pk, grants = authed
    args = replace(delta_args(params, request, grants), limit=STREAM_BATCH)
    deadline = time.monotonic() + _timeout(params, STREAM_TIMEOUT)
    start = await run_in_threadpool(_check_cursor, ctx, account_pk, args.cursor)

    async def lines() -> AsyncIterator[str]:
        position = start
        while (remaining := deadline - time.monotonic()) > 0:
            body, position = await run_in_threadpool(_poll, ctx, account_pk, args, position)
            for item in body["deltas"]:
                yield json.dumps(item, separators=(",", ":")) + "\n"
            if not body["deltas"]:
                yield "\n"
                await _pause(request, account_pk, min(KEEPALIVE_INTERVAL, remaining))

    return StreamingResponse(lines(), media_type="text/event-stream")


async def _pause(request: Request, account_pk: int, seconds: float) -> None:
    """Wait before looking at the log again; on PostgreSQL a change of the account committed
    by any process ends the wait early (store/delta_notify.py)."""
    notifications = getattr(request.app.state, "delta_notifications", None)
    if notifications is None:
        await asyncio.sleep(seconds)
    else:
        await notifications.wait(account_pk, seconds)
