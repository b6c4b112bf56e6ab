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
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from nylas_engine.api.deps import AccountScope, account_scope, get_ctx, json_object
from nylas_engine.api.errors import bad_request
from nylas_engine.api.openapi import doc, param
from nylas_engine.api.params import Query
from nylas_engine.api.routing import SessionRoute
from nylas_engine.api.schemas import admin
from nylas_engine.api.views.registry import RenderContext, deltas_json
from nylas_engine.context import EngineContext
from nylas_engine.ids import is_valid_public_id
from nylas_engine.scopes import Grants
from nylas_engine.store import delta
from nylas_engine.store.models import Account

router = APIRouter(route_class=SessionRoute)
_TYPES = "(" + "|".join(sorted(delta.FILTERABLE_TYPES)) + ")"
_TYPE_LIST = {"type": "string", "pattern": f"^{_TYPES}(,{_TYPES})*$"}
DELTA_PARAMS = [
    param("cursor", {"type": "string", "minLength": 1, "maxLength": 255}, required=True),
    param("include_types", _TYPE_LIST, description="Also spelled `includeTypes`."),
    # (`includeTypes`, `excludeTypes`, `in_` and `from_` are described, not listed: client
    # generators would give them the same names as `include_types`, `exclude_types`...)
    param("exclude_types", _TYPE_LIST, description="Also `excluded_types`, `excludeTypes`."),
    param("excluded_types", _TYPE_LIST),
    param("exclude_folders", {"type": "boolean", "default": False}),
    param("exclude_account", {"type": "boolean", "default": True}),
    param("exclude_metadata", {"type": "boolean", "default": True}),
    param("limit"),
    param("view", {"type": "string", "enum": ["", "count", "ids", "expanded"]}),
]
WAIT_PARAMS = [
    *DELTA_PARAMS,
    param(
        "timeout",
        {"type": "number", "minimum": 0, "maximum": 3600},
        description="Seconds to wait for a change (longpoll 120, streaming 1800 by default).",
    ),
]

LONGPOLL_TIMEOUT = 120.0
STREAM_TIMEOUT = 1800.0
MAX_TIMEOUT = 3600  # the longest wait a client may ask for (longpoll and streaming)
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


def _type_list(value: str | None) -> frozenset[str] | None:
    if value is None:
        return None
    names = frozenset(item.strip() for item in value.split(",") if item.strip())
    for type_ in sorted(names):
        if type_ not in delta.FILTERABLE_TYPES:
            raise bad_request(f"Invalid object type {type_}")
    return names or None


def _spelling(query: Query, *names: str) -> str | None:
    """The value of a parameter SDKs spell several ways; spellings that disagree are a 400."""
    given = {name: query.string(name) for name in names if name in query}
    if len(set(given.values())) > 1:
        raise bad_request(f"Give one of {' or '.join(given)}: they disagree")
    return next(iter(given.values()), None)


def delta_args(request: Request, grants: Grants) -> DeltaArgs:
    """`grants`: object types the token's scopes do not cover are left out of every page."""
    query = Query(request)
    cursor = query.params.get("cursor")
    if not cursor:
        raise bad_request("Missing required parameter: cursor")
    if cursor != delta.START and not is_valid_public_id(cursor):
        raise bad_request("Invalid cursor parameter")
    include = _type_list(_spelling(query, "include_types", "includeTypes"))
    # SDK 5 sends `excluded_types` (docs/protocol.md §18.11), the Node SDK 6 `includeTypes`.
    exclude = _type_list(_spelling(query, "exclude_types", "excluded_types", "excludeTypes"))
    if include is not None and exclude is not None:
        raise bad_request("Invalid Request. Cannot specify both include_types and exclude_types")
    hidden = set(exclude or ()) | grants.hidden_delta_types()
    # Unlike the old open-source engine, folder and label deltas are shown unless excluded.
    if query.boolean("exclude_folders", False):
        hidden |= {"folder", "label"}
    if query.boolean("exclude_account", True):
        hidden.add("account")
    if query.boolean("exclude_metadata", True):
        hidden.add("metadata")
    return DeltaArgs(
        cursor=cursor,
        types=delta.TypeFilter(include, frozenset(hidden)),
        expanded=query.view() == "expanded",
        limit=max(1, query.page().limit),
        base_url=str(request.base_url).rstrip("/"),
    )


def _timeout(request: Request, default: float) -> float:
    value = request.query_params.get("timeout")
    if value is None or value == "":
        return default
    try:
        seconds = float(value)
    except ValueError as exc:
        raise bad_request("Timeout parameter must be a number of seconds.") from exc
    if not 0 <= seconds <= MAX_TIMEOUT:  # also rejects NaN and the infinities
        raise bad_request(f"Timeout parameter must be a number of seconds from 0 to {MAX_TIMEOUT}.")
    return seconds


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


@router.get("/delta", **doc(reply=admin.Delta, params=DELTA_PARAMS))
@router.get("/delta/", include_in_schema=False)
def get_delta(request: Request, scope: AccountScope = Depends(account_scope)) -> Any:
    args = delta_args(request, scope.grants)
    start = _start(scope.session, scope.account, args.cursor)
    return _page(scope.session, scope.account, args, start)[0]


@router.get("/delta/longpoll", **doc(params=WAIT_PARAMS, media="application/json"))
async def longpoll(
    request: Request,
    ctx: EngineContext = Depends(get_ctx),
    authed: tuple[int, Grants] = Depends(account_id),
) -> Any:
    """The next page as soon as it has a delta, else an empty page after `timeout`."""
    account_pk, grants = authed
    args = delta_args(request, grants)
    deadline = time.monotonic() + _timeout(request, LONGPOLL_TIMEOUT)
    position = await run_in_threadpool(_check_cursor, ctx, account_pk, args.cursor)
    while True:
        body, position = await run_in_threadpool(_poll, ctx, account_pk, args, position)
        remaining = deadline - time.monotonic()
        if body["deltas"] or remaining <= 0 or await request.is_disconnected():
            return body
        await _pause(request, account_pk, min(POLL_INTERVAL, remaining))


@router.get("/delta/streaming", **doc(params=WAIT_PARAMS, media="text/event-stream"))
async def streaming(
    request: Request,
    ctx: EngineContext = Depends(get_ctx),
    authed: tuple[int, Grants] = Depends(account_id),
) -> Any:
    """Deltas as they happen, one compact JSON object per line (not SSE framing, although the
    old engine called it text/event-stream); a bare newline about every second keeps the
    connection alive. Starlette stops the generator when the client goes away."""
    account_pk, grants = authed
    args = replace(delta_args(request, grants), limit=STREAM_BATCH)
    deadline = time.monotonic() + _timeout(request, STREAM_TIMEOUT)
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
