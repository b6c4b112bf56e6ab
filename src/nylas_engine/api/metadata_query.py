"""The `metadata_*` query filters (nylas_engine.metadata) where they mean nothing.

Endpoints whose objects carry metadata declare and apply them (api/query.py
`MetadataQuery`); every other list endpoint refuses them with a 400 rather than ignoring
them, since a client filtering that way would otherwise take every row for an answer.
"""

from __future__ import annotations

from fastapi import Request

from nylas_engine.api.errors import bad_request
from nylas_engine.metadata import FILTER_NAMES

SUPPORTED_ON = (
    "/messages, /drafts, /threads (through their messages), /events, /calendars and "
    "/a/{client_id}/accounts"
)


async def refuse_metadata_filters(request: Request) -> None:
    """400 if the request names a metadata filter (on an endpoint that can't apply one).
    `async` (it does no I/O): a plain `def` dependency would cost a worker-thread hop."""
    for name in FILTER_NAMES:
        if name in request.query_params:
            raise bad_request(
                f"{name} can't be used on {request.url.path}: metadata filters work on "
                f"{SUPPORTED_ON}."
            )
