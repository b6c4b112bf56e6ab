"""Slowing down credential guessing: too many failed sign-ins in a window → 429.

The credential endpoints (`/oauth/token`, `/connect/token`, `/connect/authorize`, the
`/oauth/authorize` login form, the client secret on `/a/{client_id}`) call `check` before
they look at a credential and `failed` when it was wrong; successes are not counted. Failures
are counted per client IP and target (a client_id or an email address), per IP over all
targets and per target over all IPs, each with its own ceiling:

    (ip, target)  limit                  one client guessing one secret or password
    ip            limit × IP_FACTOR      one client trying many apps or accounts
    target        limit × TARGET_FACTOR  many clients guessing one secret or password

so that a legitimate client of another app, from the same address, is still served after
someone hammered one app. Counts live in this process only (a restart forgets them); each key
keeps at most its ceiling's worth of timestamps, and keys idle for a window are dropped.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Request

from nylas_engine.api.errors import API_ERROR, APIError

IP_FACTOR = 5
TARGET_FACTOR = 10
MAX_TARGET = 320  # characters of a client_id or email kept in a key
PRUNE_EVERY = 1000  # failures between sweeps of idle keys


@dataclass(frozen=True)
class Attempt:
    """The keys one request is counted under, with each key's ceiling."""

    keys: tuple[tuple[str, int], ...]


class TooManyFailures(APIError):
    def __init__(self, retry_after: int, limit: int) -> None:
        super().__init__(
            429,
            "Too many failed authentication attempts. "
            f"Try again in {retry_after} second{'s' if retry_after != 1 else ''}.",
            API_ERROR,
            headers={
                "Retry-After": str(retry_after),
                "X-RateLimit-Limit": str(limit),
                "X-RateLimit-Reset": str(retry_after),
            },
        )
        self.retry_after = retry_after


class FailureLimiter:
    """At most `limit` failures per `window` seconds for each (IP, target), more per IP and
    per target (see the module docstring). `limit` 0 turns the limiter off."""

    def __init__(
        self, limit: int, window: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        self._since_prune = 0

    def attempt(self, request: Request, target: str, kind: str) -> Attempt:
        """The keys for a try at `target` (of `kind`: "client" or "email") from this client."""
        ip = request.client.host if request.client else "-"
        target = f"{kind}:{target.strip().lower()[:MAX_TARGET]}"
        return Attempt(
            (
                (f"pair:{ip}|{target}", self.limit),
                (f"ip:{ip}", self.limit * IP_FACTOR),
                (f"target:{target}", self.limit * TARGET_FACTOR),
            )
        )

    def check(self, request: Request, target: str, kind: str) -> Attempt:
        """Raise a 429 while any of this request's keys is over its ceiling."""
        attempt = self.attempt(request, target, kind)
        if self.limit <= 0:
            return attempt
        now = self.clock()
        wait = 0.0
        with self._lock:
            for key, ceiling in attempt.keys:
                times = self._failures.get(key)
                if times is None:
                    continue
                while times and times[0] <= now - self.window:
                    times.popleft()
                if len(times) >= ceiling:
                    wait = max(wait, times[0] + self.window - now)
        if wait > 0:
            raise TooManyFailures(max(1, math.ceil(wait)), self.limit)
        return attempt

    def failed(self, attempt: Attempt) -> None:
        if self.limit <= 0:
            return
        now = self.clock()
        with self._lock:
            for key, ceiling in attempt.keys:
                times = self._failures.get(key)
                if times is None or times.maxlen != ceiling:
                    times = self._failures[key] = deque(times or (), maxlen=ceiling)
                times.append(now)
            self._since_prune += 1
            if self._since_prune >= PRUNE_EVERY:
                self._prune(now)

    def _prune(self, now: float) -> None:
        self._since_prune = 0
        idle = [
            k for k, times in self._failures.items() if not times or times[-1] <= now - self.window
        ]
        for key in idle:
            del self._failures[key]


def auth_failures(request: Request) -> FailureLimiter:
    """The engine's limiter (one per app; see create_app)."""
    limiter: FailureLimiter = request.app.state.auth_failures
    return limiter
