"""Full-text search: the index kept by the store, and the queries the search routes run.

The names are loaded when first asked for: a sync imports `search.index` for every message
it stores, and the queries (with the row builders they import) are the API's alone."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nylas_engine.search.index import index_message, remove_message
    from nylas_engine.search.query import (
        count_threads,
        fts_query,
        search_messages,
        search_threads,
    )

_WHERE = {
    "index_message": "index",
    "remove_message": "index",
    "count_threads": "query",
    "fts_query": "query",
    "search_messages": "query",
    "search_threads": "query",
}

__all__ = [
    "count_threads",
    "fts_query",
    "index_message",
    "remove_message",
    "search_messages",
    "search_threads",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_WHERE[name]}"), name)
