"""Public ids: 25 random lowercase base-36 digits, the base-36 rendering of a random number
below 2**128, as OSS Nylas's ids were of UUIDs (docs/protocol.md §1.5)."""

from __future__ import annotations

import os
import re
import threading

from nylas_engine.errors import InvalidRequest

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
# Random bytes to digits, with `bytes.translate`: a byte below 252 (7 times 36, and 18 times
# 14) is a digit, uniformly; the 4 above are dropped. The first digit is 1 to e (never 0, and
# 25 digits led by one below f are a number below 2**128: 15 * 36**24 > 2**128 > 14 * 36**24).
_DIGIT = bytes.maketrans(bytes(range(252)), (_ALPHABET * 7).encode())
_FIRST = bytes.maketrans(bytes(range(252)), (_ALPHABET[1:15] * 18).encode())
_DROPPED = bytes(range(252, 256))
_VALID = re.compile(r"^[0-9a-zA-Z]{1,40}$")


class _Random(threading.local):
    """Random bytes read from the OS 4 KiB at a time, per thread: a sync makes tens of
    thousands of ids, and a system call for each 16 bytes cost more than the rest."""

    def __init__(self) -> None:
        self.buffer = b""
        self.pos = 0

    def take(self, size: int) -> bytes:
        if self.pos + size > len(self.buffer):
            self.buffer, self.pos = os.urandom(4096), 0
        self.pos += size
        return self.buffer[self.pos - size : self.pos]

    def forget(self) -> None:
        self.buffer, self.pos = b"", 0


_RANDOM = _Random()
# A forked child must not hand out the ids its parent will (checked here, not with a
# getpid() per id: one system call each).
os.register_at_fork(after_in_child=_RANDOM.forget)


def new_public_id() -> str:
    """A fresh id: 25 random base-36 digits, the first 1 to e (about 128 bits of chance).

    Made by translating random bytes, not by dividing a 128-bit number by 36 again and again:
    a sync makes tens of thousands of ids, and that cost 4.5 us each, this under 1 us."""
    while True:
        raw = _RANDOM.take(32)
        first = raw[:1].translate(_FIRST, _DROPPED)
        rest = raw[1:].translate(_DIGIT, _DROPPED)
        if first and len(rest) >= 24:  # else (1 time in 60) a byte too many was dropped
            return (first + rest[:24]).decode()


def is_valid_public_id(value: str) -> bool:
    """The old engine parsed ids as base 36, so any short alphanumeric string passes."""
    return bool(_VALID.match(value))


def check_id(value: str, what: str = "id") -> str:
    """`value` if it is a well-formed public id, else an InvalidRequest naming `what`."""
    if not is_valid_public_id(value):
        raise InvalidRequest(f"Invalid {what}: {value}")
    return value
