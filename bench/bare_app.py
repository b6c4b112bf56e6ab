"""A bare uvicorn app answering each recorded request with the very bytes the engine sent.

    python bench/bare_app.py BODIES.json PORT

BODIES.json maps "path?query" to the base64 of a reply body. This is the yardstick of
bench/api.py: what serving those replies costs with no engine work at all (same server,
same HTTP stack, same bytes).
"""

from __future__ import annotations

import base64
import json
import sys
from typing import Any

import uvicorn


def make_app(bodies: dict[str, bytes]) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        key = scope["path"]
        if scope.get("query_string"):
            key += "?" + scope["query_string"].decode()
        body = bodies.get(key)
        status = 200 if body is not None else 404
        body = body if body is not None else b'{"message":"not recorded"}'
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


def main() -> None:
    path, port = sys.argv[1], int(sys.argv[2])
    with open(path) as f:
        bodies = {key: base64.b64decode(value) for key, value in json.load(f).items()}
    uvicorn.run(make_app(bodies), host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main()
