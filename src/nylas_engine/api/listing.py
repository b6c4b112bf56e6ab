"""One function for every list endpoint: view=count, view=ids, or a page of JSON objects.

`limit`, `offset` and `view` are declared query parameters (`ListParams`, a dependency a
route may take); a route that does not take it has them read by the same rules."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import Query as QueryParam
from fastapi import Request
from sqlalchemy import Select
from sqlalchemy.orm import Session

from nylas_engine.api.params import Page, Query
from nylas_engine.api.replies import json_reply
from nylas_engine.store import paging

Serialize = Callable[[Any, bool], dict[str, Any]]
RenderPage = Callable[[Sequence[Any], bool], list[dict[str, Any]]]
LoadPage = Callable[[Session, Select[Any], int, int], Sequence[Any]]


@dataclass(frozen=True)
class ListParams:
    """The raw list parameters as sent; checked when a list reads them (400, not 422)."""

    limit: str | None = None
    offset: str | None = None
    view: str | None = None

    def page(self) -> Page:
        return Query.from_values({"limit": self.limit, "offset": self.offset}).page()

    def checked_view(self, allowed: tuple[str, ...]) -> str | None:
        return Query.from_values({"view": self.view}).view(allowed)


def list_params(
    limit: str | None = QueryParam(None, description="Page size (default 100, at most 1000)."),
    offset: str | None = QueryParam(None, description="Objects to skip."),
    view: str | None = QueryParam(None, description="count, ids or expanded."),
) -> ListParams:
    return ListParams(limit, offset, view)


def list_response(
    request: Request,
    session: Session,
    stmt: Select[Any],
    serialize: Serialize | None = None,
    *,
    views: tuple[str, ...] = ("count", "ids", "expanded"),
    render_page: RenderPage | None = None,
    params: ListParams | None = None,
    load: LoadPage = paging.page,
) -> Any:
    """`stmt` selects the ordered, filtered objects; `serialize(obj, expanded)` renders one,
    or `render_page(objs, expanded)` a whole page (loading what they need once); `load`
    reads the page (ORM objects by default; store/message_rows.py reads rows)."""
    if params is None:
        raw = request.query_params
        params = ListParams(raw.get("limit"), raw.get("offset"), raw.get("view"))
    view = params.checked_view(views)
    page = params.page()  # checked even for a count: a bad limit is a 400 whatever the view
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
