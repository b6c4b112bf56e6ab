"""Public ids: lowercase base-36 renderings of random 128-bit UUIDs (wire-api §1.5)."""

from __future__ import annotations

import re
import uuid

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
_VALID = re.compile(r"^[0-9a-zA-Z]{1,40}$")


def new_public_id() -> str:
    """A fresh id: base 36 of a random UUID, no padding (usually 25 characters)."""
    n = uuid.uuid4().int
    digits = []
    while n:
        n, r = divmod(n, 36)
        digits.append(_ALPHABET[r])
    return "".join(reversed(digits)) or "0"


def is_valid_public_id(value: str) -> bool:
    """The old engine parsed ids as base 36, so any short alphanumeric string passes."""
    return bool(_VALID.match(value))
