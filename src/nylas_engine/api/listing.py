"""One function for every list endpoint: view=count, view=ids, or a page of JSON objects."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy import Select
from sqlalchemy.orm import Session

from nylas_engine.api.params import Query
from nylas_engine.store import paging


def list_response(
    request: Request,
    session: Session,
    stmt: Select[Any],
    serialize: Callable[[Any, bool], dict[str, Any]],
    *,
    views: tuple[str, ...] = ("count", "ids", "expanded"),
) -> Any:
    """`stmt` selects the ordered, filtered objects; `serialize(obj, expanded)` renders one."""
    query = Query(request)
    view = query.view(views)
    page = query.page()  # checked even for a count: a bad limit is a 400 whatever the view
    if view == "count":
        return {"count": paging.count(session, stmt)}
    rows = paging.page(session, stmt, page.limit, page.offset)
    if view == "ids":
        return [row.public_id for row in rows]
    items = [serialize(row, view == "expanded") for row in rows]
    # Views build plain JSON values: skip FastAPI's encoder, which costs more than the query.
    try:
        return JSONResponse(items)
    except TypeError:  # a view left a value json can't write as is (a date, ...)
        return items
