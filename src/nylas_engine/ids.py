"""Public ids: lowercase base-36 renderings of random 128-bit UUIDs (docs/protocol.md §1.5)."""

from __future__ import annotations

import os
import re
import threading

from nylas_engine.errors import InvalidRequest

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]  # two digits per division: half the work
_VALID = re.compile(r"^[0-9a-zA-Z]{1,40}$")


class _Random(threading.local):
    """Random bytes read from the OS 4 KiB at a time, per thread: a sync makes tens of
    thousands of ids, and a system call for each 16 bytes cost more than the rest."""

    def __init__(self) -> None:
        self.buffer = b""
        self.pos = 0

    def take16(self) -> bytes:
        if self.pos + 16 > len(self.buffer):
            self.buffer, self.pos = os.urandom(4096), 0
        self.pos += 16
        return self.buffer[self.pos - 16 : self.pos]

    def forget(self) -> None:
        self.buffer, self.pos = b"", 0


_RANDOM = _Random()
# A forked child must not hand out the ids its parent will (checked here, not with a
# getpid() per id: one system call each).
os.register_at_fork(after_in_child=_RANDOM.forget)


def new_public_id() -> str:
    """A fresh id: base 36 of 128 random bits, no padding (usually 25 characters)."""
    n = int.from_bytes(_RANDOM.take16(), "big")
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


def check_id(value: str, what: str = "id") -> str:
    """`value` if it is a well-formed public id, else an InvalidRequest naming `what`."""
    if not is_valid_public_id(value):
        raise InvalidRequest(f"Invalid {what}: {value}")
    return value
