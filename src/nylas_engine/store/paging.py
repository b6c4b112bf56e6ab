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


def page_ids(session: Session, stmt: Select[Any], limit: int, offset: int) -> list[str]:
    """One page of public ids: `stmt` reduced to its entity's `public_id` column, so no
    object is loaded (view=ids)."""
    entity = stmt.column_descriptions[0]["entity"]
    ids_stmt = stmt.with_only_columns(entity.public_id, maintain_column_froms=True)
    return list(session.scalars(ids_stmt.limit(limit).offset(offset)))
