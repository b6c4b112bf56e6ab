"""Blank text, judged the same way by the OpenAPI document and by the engine's own checks.

The document's patterns are ECMAScript regular expressions, and ECMAScript's white space is not
Python's: Python also counts the separators U+001C-U+001F and U+0085 (so `str.strip()` empties
"\\x1c"), ECMAScript also counts U+FEFF. A client generating requests from the document (as
Schemathesis does in tests/engine/test_openapi_conformance.py) sent a contact phone number
"\\x1c", valid by the document, and got a 400. Text is blank here when it holds no character
that is white space in neither.
"""

from __future__ import annotations

import re

WHITE_SPACE = r"\s\x1c-\x1f\x85\ufeff"  # white space to either, as a character class's body
NOT_BLANK = f"[^{WHITE_SPACE}]"  # one character that is white space to neither
_VISIBLE = re.compile(NOT_BLANK)


def is_blank(text: str) -> bool:
    return _VISIBLE.search(text) is None
