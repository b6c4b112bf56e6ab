"""JSON replies rendered once, with orjson: list pages are the engine's largest replies.

orjson writes what `json.dumps(..., ensure_ascii=False, separators=(",", ":"))` writes for
the plain values the views build (same keys, order and values; UTF-8 text as is). A value it
refuses (an integer beyond 64 bits, a non-string key) falls back to the standard encoder.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import JSONResponse


class FastJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        try:
            return orjson.dumps(content)
        except (orjson.JSONEncodeError, TypeError):
            return super().render(content)


def json_reply(content: Any) -> Any:
    """`content` (plain JSON values) as an application/json reply; content neither encoder
    can write as is (a date, ...) is returned for FastAPI's own encoder."""
    try:
        return FastJSONResponse(content)
    except TypeError:
        return content
