"""Public ids: lowercase base-36 renderings of random 128-bit UUIDs (docs/protocol.md §1.5)."""

from __future__ import annotations

import os
import re

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]  # two digits per division: half the work
_VALID = re.compile(r"^[0-9a-zA-Z]{1,40}$")


def new_public_id() -> str:
    """A fresh id: base 36 of 128 random bits, no padding (usually 25 characters)."""
    n = int.from_bytes(os.urandom(16), "big")
    pairs = []
    while n >= 36:
        n, r = divmod(n, 36 * 36)
        pairs.append(_PAIRS[r])
    digits = "".join(reversed(pairs))
    if n:
        digits = _ALPHABET[n] + digits
    return digits.lstrip("0") or "0"


def is_valid_public_id(value: str) -> bool:
    """The old engine parsed ids as base 36, so any short alphanumeric string passes."""
    return bool(_VALID.match(value))
