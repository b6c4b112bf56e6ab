"""Apply the list conventions of docs/protocol.md §3 (limit/offset, view=count|ids) to a query."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session


def count(session: Session, stmt: Select[Any]) -> int:
    """Number of rows `stmt` would return, ignoring its ordering."""
    sub = stmt.order_by(None).subquery()
    return int(session.scalar(select(func.count()).select_from(sub)) or 0)


def page(session: Session, stmt: Select[Any], limit: int, offset: int) -> list[Any]:
    """One page of ORM objects (`stmt` selects an entity and carries its ordering)."""
    return list(session.scalars(stmt.limit(limit).offset(offset)).unique())
