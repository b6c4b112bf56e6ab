"""Filters as users write them (`in_='inbox'`, `unread=True`, datetimes) to query parameters."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

# Python keywords users write with a trailing underscore.
_RENAMED = {"in_": "in", "from_": "from"}


def wire_name(name: str) -> str:
    return _RENAMED.get(name, name)


def wire_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return int(value.timestamp())
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (list, tuple, set, frozenset)):
        return ",".join(str(wire_value(v)) for v in value)
    return value


def to_params(filters: Mapping[str, Any]) -> dict[str, Any]:
    return {wire_name(k): wire_value(v) for k, v in filters.items() if v is not None}


def merge(base: Mapping[str, Any], *updates: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for update in updates:
        for key, value in update.items():
            merged[wire_name(key)] = value
    return merged


def chunks(total: int | None, offset: int, size: int) -> Iterable[tuple[int, int]]:
    """(offset, limit) of each page request, for at most `total` items (None: no cap)."""
    fetched = 0
    while total is None or fetched < total:
        limit = size if total is None else min(size, total - fetched)
        yield offset + fetched, limit
        fetched += limit
