"""Full-text search: the index kept by the store, and the queries the search routes run."""

from nylas_engine.search.index import index_message, remove_message
from nylas_engine.search.query import count_threads, fts_query, search_messages, search_threads

__all__ = [
    "count_threads",
    "fts_query",
    "index_message",
    "remove_message",
    "search_messages",
    "search_threads",
]
