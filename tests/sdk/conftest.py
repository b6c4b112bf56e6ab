"""SDK fixtures: clients bound to a fresh account on the session's live engine."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from nylas import APIClient, AsyncAPIClient


@pytest.fixture
def client(engine: Any, account: dict[str, Any]) -> Iterator[APIClient]:
    """The seed README's open-engine client: the account id is the access token."""
    with APIClient(None, None, account["id"], engine.url) as c:
        yield c


@pytest.fixture
async def aclient(engine: Any, account: dict[str, Any]) -> AsyncIterator[AsyncAPIClient]:
    async with AsyncAPIClient(None, None, account["id"], engine.url) as c:
        yield c


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
