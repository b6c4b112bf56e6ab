"""Layers point one way: the store, sending, syncing and calendar code import without the web
framework or the API package (webhooks, delta, search, mime and the importer too), so the
sync and the importer never load FastAPI, and
no layer below `api/` can answer in HTTP terms (it raises nylas_engine/errors.py instead)."""

from __future__ import annotations

import json
import subprocess
import sys

_PROBE = """
import importlib, json, pkgutil, sys
import nylas_engine
loaded = []
PACKAGES = (
    "store", "send", "sync", "calendar", "webhooks", "delta", "search", "mime", "dav", "oauth"
)
for package in PACKAGES:
    root = importlib.import_module("nylas_engine." + package)
    loaded.append(root.__name__)
    for info in pkgutil.walk_packages(root.__path__, root.__name__ + "."):
        if ".migrations" in info.name:  # alembic scripts run on import, in alembic only
            continue
        importlib.import_module(info.name)
        loaded.append(info.name)
for module in ("errors", "scopes", "ids", "metadata", "importer"):
    loaded.append(importlib.import_module("nylas_engine." + module).__name__)
heavy = sorted(
    name for name in sys.modules
    if name.split(".")[0] in ("fastapi", "starlette") or name.startswith("nylas_engine.api")
)
print(json.dumps({"loaded": loaded, "heavy": heavy}))
"""


def _probe() -> dict[str, list[str]]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=120, check=True
    )
    result: dict[str, list[str]] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_the_layers_below_the_api_import_without_fastapi_or_the_api():
    result = _probe()

    assert "nylas_engine.store.drafts" in result["loaded"]
    assert "nylas_engine.send.outbox" in result["loaded"]
    assert "nylas_engine.sync.drafts" in result["loaded"]
    assert "nylas_engine.calendar.ical" in result["loaded"]
    assert "nylas_engine.webhooks.notify" in result["loaded"]
    assert "nylas_engine.importer" in result["loaded"]
    assert result["heavy"] == []


def test_domain_errors_keep_the_protocol_body():
    from nylas_engine.api.errors import from_domain
    from nylas_engine.errors import Conflict, Forbidden, InvalidRequest, MessageRejected, NotFound
    from nylas_engine.send.errors import SendError

    cases = [
        (InvalidRequest("Invalid id: x"), 400, "invalid_request_error"),
        (
            Forbidden("This access token's scopes (email) do not allow x"),
            403,
            "invalid_request_error",
        ),
        (NotFound("Couldn't find draft x"), 404, "invalid_request_error"),
        (Conflict("Draft x.1 has already been updated to version 2"), 409, "invalid_request_error"),
        (MessageRejected("Recipient address can't be encoded: é@x"), 402, "api_error"),
    ]
    for error, status, kind in cases:
        reply = from_domain(error)
        assert (reply.status, reply.body()) == (status, {"message": error.message, "type": kind})

    refused = SendError(
        402,
        "Sending to all recipients failed",
        server_error="550 : no",
        failures={"a@b": [550, "no"]},
    )
    reply = from_domain(refused)
    assert reply.status == 402
    assert reply.body() == {
        "message": "Sending to all recipients failed",
        "type": "api_error",
        "server_error": "550 : no",
        "failures": {"a@b": [550, "no"]},
    }
