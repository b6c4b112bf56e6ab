"""The 3.x import path: `from nylas.client import APIClient`; errors in `nylas.client.errors`.

The clients are looked up lazily because the SDK's own modules import `nylas.client.errors`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nylas.client import errors

if TYPE_CHECKING:
    from nylas._async.client import AsyncAPIClient
    from nylas._sync.client import APIClient

__all__ = ["APIClient", "AsyncAPIClient", "errors"]


def __getattr__(name: str) -> Any:
    if name == "APIClient":
        from nylas._sync.client import APIClient

        return APIClient
    if name == "AsyncAPIClient":
        from nylas._async.client import AsyncAPIClient

        return AsyncAPIClient
    raise AttributeError(f"module 'nylas.client' has no attribute {name!r}")
