"""SDK fixtures: clients bound to a fresh account on the session's live engine."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
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


# The engine tests' mail factory puts real RFC 822 messages into an account through the
# engine's own ingest path; the SDK tests read them back over HTTP.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "engine"))
from mailfactory import Mailbox  # noqa: E402


@pytest.fixture
def mailbox(engine: Any, account: dict[str, Any]) -> Mailbox:
    return Mailbox(engine, account)


@pytest.fixture
def gmail_account(engine: Any) -> dict[str, Any]:
    return engine.new_account(provider="gmail", organization_unit="label")


@pytest.fixture
def gmail(engine: Any, gmail_account: dict[str, Any]) -> Iterator[APIClient]:
    with APIClient(None, None, gmail_account["id"], engine.url) as c:
        yield c


@pytest.fixture
def gmail_mailbox(engine: Any, gmail_account: dict[str, Any]) -> Mailbox:
    return Mailbox(engine, gmail_account)
