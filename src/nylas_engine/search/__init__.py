"""Full-text search: the index kept by the store, and the queries the search routes run."""

from nylas_engine.search.index import index_message, remove_message
from nylas_engine.search.query import fts_query, search_messages, search_threads

__all__ = ["fts_query", "index_message", "remove_message", "search_messages", "search_threads"]
