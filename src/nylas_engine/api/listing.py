"""One function for every list endpoint: view=count, view=ids, or a page of JSON objects.

`limit`, `offset` and `view` are the route's declared query parameters (api/query.py
`ListQuery`, or a model built on it), already checked when the route runs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Select
from sqlalchemy.orm import Session

from nylas_engine.api.query import ListQuery
from nylas_engine.api.replies import json_reply
from nylas_engine.store import paging

Serialize = Callable[[Any, bool], dict[str, Any]]
RenderPage = Callable[[Sequence[Any], bool], list[dict[str, Any]]]
LoadPage = Callable[[Session, Select[Any], int, int], Sequence[Any]]


def list_response(
    params: ListQuery,
    session: Session,
    stmt: Select[Any],
    serialize: Serialize | None = None,
    *,
    render_page: RenderPage | None = None,
    load: LoadPage = paging.page,
) -> Any:
    """`stmt` selects the ordered, filtered objects; `serialize(obj, expanded)` renders one,
    or `render_page(objs, expanded)` a whole page (loading what they need once); `load`
    reads the page (ORM objects by default; store/message_rows.py reads rows)."""
    view, page = params.view, params.page()
    if view == "count":
        return {"count": paging.count(session, stmt)}
    if view == "ids":
        return json_reply(paging.page_ids(session, stmt, page.limit, page.offset))
    rows = load(session, stmt, page.limit, page.offset)
    expanded = view == "expanded"
    if render_page is not None:
        items = render_page(rows, expanded)
    else:
        assert serialize is not None
        items = [serialize(row, expanded) for row in rows]
    # Views build plain JSON values: skip FastAPI's encoder, which costs more than the query.
    return json_reply(items)
