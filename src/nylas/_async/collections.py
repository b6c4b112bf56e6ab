"""Collections: immutable queries over one kind of object (docs/protocol.md §3 paging).

async for thread in client.threads.where(unread=True, limit=5): ...
thread = await client.threads.first()
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from nylas._async.models import Model
from nylas._query import chunks, merge, to_params
from nylas._transport.config import path_id
from nylas._transport.request import AuthKind, Request

if TYPE_CHECKING:
    from nylas._async.client import AsyncAPIClient
    from nylas._async.models import OutboxJob

M = TypeVar("M", bound=Model)

PAGE_SIZE = 500  # few round trips: a page of 500 costs the engine little more than 50
IDS_PAGE_SIZE = 1000


class Collection(Generic[M]):
    """A query for `model` objects; `where()` returns a new, narrower query."""

    def __init__(
        self,
        client: AsyncAPIClient,
        model: type[M],
        *,
        path: str | None = None,
        filters: Mapping[str, Any] | None = None,
        auth: AuthKind = "token",
    ) -> None:
        self._client = client
        self.model = model
        self.path = path or model._path
        self.filters: dict[str, Any] = dict(filters or {})
        self._auth: AuthKind = auth

    def __repr__(self) -> str:
        return f"<Collection {self.path} {self.filters}>"

    def where(self, filters: Mapping[str, Any] | None = None, **more: Any) -> Collection[M]:
        """A new query with these filters added (`in_`/`from_` mean `in`/`from`)."""
        merged = merge(self.filters, filters or {}, more)
        return Collection(self._client, self.model, path=self.path, filters=merged, auth=self._auth)

    # ---------------------------------------------------------------------------- reading

    async def _get(self, path: str, params: Mapping[str, Any]) -> Any:
        reply = await self._client._send(
            Request("GET", path, params=to_params(params), auth=self._auth)
        )
        return reply.json()

    async def _page(self, offset: int, limit: int) -> list[M]:
        filters = {k: v for k, v in self.filters.items() if k not in ("limit", "offset")}
        items = await self._get(self.path, {**filters, "offset": offset, "limit": limit})
        return [self.model._build(self._client, item) for item in items]

    async def values(self) -> AsyncIterator[M]:
        """Every matching object, fetched lazily in pages of 500 (up to a `limit` filter)."""
        total = self.filters.get("limit")
        start = int(self.filters.get("offset") or 0)
        for offset, limit in chunks(None if total is None else int(total), start, PAGE_SIZE):
            page = await self._page(offset, limit)
            for item in page:
                yield item
            if len(page) < limit:
                return

    def __aiter__(self) -> AsyncIterator[M]:
        return self.values()

    async def all(self, limit: int | None = None) -> list[M]:
        query = self.where(limit=limit) if limit is not None else self
        return [item async for item in query.values()]

    async def first(self) -> M | None:
        page = await self._page(int(self.filters.get("offset") or 0), 1)
        return page[0] if page else None

    async def find(self, id: str) -> M:
        """The object with this id (`NotFoundError` if there is none)."""
        view = {"view": self.filters["view"]} if "view" in self.filters else {}
        data = await self._get(f"{self.path}/{path_id(id)}", view)
        return self.model._build(self._client, data)

    get = find

    async def count(self) -> int:
        data = await self._get(self.path, {**self.filters, "view": "count"})
        return int(data["count"])

    async def ids(self) -> list[str]:
        result: list[str] = []
        filters = {k: v for k, v in self.filters.items() if k not in ("limit", "offset", "view")}
        total = self.filters.get("limit")
        start = int(self.filters.get("offset") or 0)
        for offset, limit in chunks(None if total is None else int(total), start, IDS_PAGE_SIZE):
            params = {**filters, "view": "ids", "offset": offset, "limit": limit}
            page = await self._get(self.path, params)
            result.extend(page)
            if len(page) < limit:
                break
        return result

    @overload
    async def __getitem__(self, key: int) -> M: ...

    @overload
    async def __getitem__(self, key: slice) -> list[M]: ...

    async def __getitem__(self, key: int | slice) -> M | list[M]:
        """`await query[3]` is one object; `await query[5:10]` a list."""
        if isinstance(key, slice):
            if key.step not in (None, 1) or (key.start or 0) < 0 or (key.stop or 0) < 0:
                raise ValueError("only forward slices with non-negative bounds are supported")
            start = key.start or 0
            total = None if key.stop is None else max(key.stop - start, 0)
            query = self.where(offset=start, limit=total)
            return [item async for item in query.values()]
        if key < 0:
            raise IndexError("negative indexes are not supported")
        page = await self._page(key, 1)
        if not page:
            raise IndexError(key)
        return page[0]

    async def search(
        self, q: str, limit: int | None = None, offset: int | None = None, **params: Any
    ) -> list[M]:
        """Full-text search (`/threads/search`, `/messages/search`) as a plain list."""
        items = await self._get(
            f"{self.path}/search", {"q": q, "limit": limit, "offset": offset, **params}
        )
        return [self.model._build(self._client, item) for item in items]

    # ---------------------------------------------------------------------------- writing

    def create(self, **attrs: Any) -> M:
        """A new local object (nothing is sent until you `save()` it)."""
        return self.model._new(self._client, **attrs)

    async def delete(self, id: str, data: Any = None, **query: Any) -> Any:
        """DELETE one object; `data` is the JSON body (a draft's `{'version': n}`)."""
        reply = await self._client._send(
            Request(
                "DELETE",
                f"{self.path}/{path_id(id)}",
                params=to_params(query),
                json=data,
                auth=self._auth,
            )
        )
        return reply.json()


class Outbox(Collection["OutboxJob"]):
    """`client.outbox`: messages the server sends at a later time (`/v2/outbox`). Lists like
    any collection; `find(job_status_id)`, `send(...)` to schedule one."""

    def __init__(self, client: AsyncAPIClient) -> None:
        from nylas._async.models import OutboxJob

        super().__init__(client, OutboxJob)

    async def send(
        self,
        message: Model | Mapping[str, Any],
        send_at: int,
        retry_limit_datetime: int | None = None,
    ) -> OutboxJob:
        """Schedule `message` (a `Draft`, or the fields `POST /send` takes) for `send_at`
        (a Unix time); the server tries until `retry_limit_datetime` if given."""
        body = dict(message.as_json() if isinstance(message, Model) else message)
        body["send_at"] = send_at
        if retry_limit_datetime is not None:
            body["retry_limit_datetime"] = retry_limit_datetime
        reply = await self._client._send(Request("POST", self.path, json=body))
        return self.model._build(self._client, reply.json())
