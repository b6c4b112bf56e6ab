"""The official nylas-legacy 5.15 client, pointed at a local (http) engine.

It refuses any api_server that is not https://, so it is built with a placeholder and its
URLs are pointed at the engine afterwards. Used by the interop tests and by bench/.
"""

from __future__ import annotations

from typing import Any

PLACEHOLDER = "https://engine.invalid"


def legacy_client(
    url: str, token: str | None = None, app_id: str | None = None, app_secret: str | None = None
) -> Any:
    from nylas_legacy import APIClient

    client = APIClient(app_id, app_secret, token, PLACEHOLDER)
    for name, value in list(vars(client).items()):
        if isinstance(value, str) and value.startswith(PLACEHOLDER):
            setattr(client, name, url.rstrip("/") + value[len(PLACEHOLDER) :])
    return client
