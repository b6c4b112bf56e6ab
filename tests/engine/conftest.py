"""Fixtures shared by the engine tests that send mail."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from smtp_listener import SmtpListener


@pytest.fixture
def listener() -> Iterator[SmtpListener]:
    """A real SMTP server on loopback that keeps what it receives."""
    with SmtpListener() as smtp:
        yield smtp


@pytest.fixture
def sender(engine: Any, listener: SmtpListener) -> dict[str, Any]:
    """An account whose SMTP server is `listener`."""
    return engine.new_account(**listener.account_fields())
