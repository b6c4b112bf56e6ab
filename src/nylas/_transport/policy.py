"""Retry decisions and backoff, as plain functions (no I/O, no clock except for HTTP dates)."""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Mapping

RETRY_STATUSES = frozenset({408, 429, 502, 503, 504})
INITIAL_DELAY = 0.5
MAX_BACKOFF = 8.0
# A Retry-After longer than this is not waited for: the error is raised instead.
MAX_RETRY_AFTER = 60.0


def retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds asked for by `Retry-After` (delta-seconds or HTTP date), or None."""
    value = headers.get("retry-after-ms")
    if value is not None:
        try:
            return max(float(value) / 1000.0, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(when.timestamp() - (time.time() if now is None else now), 0.0)


def backoff(attempt: int) -> float:
    """Jittered exponential backoff for retry number `attempt` (0-based)."""
    delay = min(INITIAL_DELAY * 2.0**attempt, MAX_BACKOFF)
    return delay * (1.0 - 0.25 * random.random())


def status_is_retryable(status: int, headers: Mapping[str, str] | None = None) -> bool:
    if status in RETRY_STATUSES:
        return True
    # The engine's answer to a retry that overtook the first attempt of the same
    # Idempotency-Key (still running): wait and ask again to get the first reply.
    return status == 409 and headers is not None and headers.get("idempotent-replayed") == "false"


def retry_delay(
    attempt: int, max_retries: int, headers: Mapping[str, str] | None = None
) -> float | None:
    """How long to wait before retry `attempt + 1`, or None when no retry should happen.

    `headers` are the failed reply's (None after a connection error).
    """
    if attempt >= max_retries:
        return None
    asked = retry_after(headers) if headers is not None else None
    if asked is not None:
        return asked if asked <= MAX_RETRY_AFTER else None
    return backoff(attempt)
