"""`client.deltas`: the transaction log (docs/protocol.md §15)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from nylas._query import to_params
from nylas._transport.request import Request
from nylas.models.delta import Delta, DeltaPage

if TYPE_CHECKING:
    from nylas._async.client import AsyncAPIClient


class Deltas:
    def __init__(self, client: AsyncAPIClient) -> None:
        self._client = client

    async def latest_cursor(self) -> str:
        reply = await self._client._send(Request("POST", "/delta/latest_cursor"))
        return str(reply.json()["cursor"])

    async def since(self, cursor: str, **params: Any) -> DeltaPage:
        """One page of changes after `cursor` (filters: `include_types`, `exclude_types`,
        `view`, `exclude_folders`, ...). Pass `page.cursor_end` to get the next page."""
        reply = await self._client._send(
            Request("GET", "/delta", params=to_params({"cursor": cursor, **params}))
        )
        return DeltaPage.from_json(reply.json(), self._client)

    async def longpoll(self, cursor: str, timeout: int = 120, **params: Any) -> DeltaPage:
        """Wait up to `timeout` seconds for changes after `cursor`."""
        request = Request(
            "GET",
            "/delta/longpoll",
            params=to_params({"cursor": cursor, "timeout": timeout, **params}),
            timeout=float(timeout) + 30.0,
        )
        reply = await self._client._send(request)
        return DeltaPage.from_json(reply.json(), self._client)

    async def stream(
        self, cursor: str, timeout: float | None = None, **params: Any
    ) -> AsyncIterator[Delta]:
        """Each change after `cursor` as it happens, until the server closes the stream
        (after `timeout` seconds when given)."""
        query = to_params({"cursor": cursor, "timeout": timeout, **params})
        request = Request("GET", "/delta/streaming", params=query, max_retries=0)
        async for line in self._client._transport.iter_lines(request):
            if line.strip():
                yield Delta.from_json(json.loads(line), self._client)
