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
someone hammered one app. On SQLite (one process) counts live in this process only (a restart
forgets them); each key keeps at most its ceiling's worth of timestamps, and keys idle for a
window are dropped. On PostgreSQL, where several API processes may serve one database,
`SharedFailureLimiter` counts in the database instead (store/guess_counters.py).

`ConcurrencyCap` bounds what is in progress rather than what failed: `/connect/authorize`
runs at most CONNECT_AT_ONCE mail-server checks at once per client id and per client IP.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from fastapi import Request

from nylas_engine.api.errors import API_ERROR, APIError
from nylas_engine.store import guess_counters
from nylas_engine.store.db import Database

IP_FACTOR = 5
# `/connect/authorize`: mail-server checks at once per client id and per client IP, and how
# long one check (IMAP and SMTP logins, old servers and new) may take in all.
CONNECT_AT_ONCE = 3
CONNECT_SECONDS = 10.0
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
        ip = client_ip(request)
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


class SharedFailureLimiter(FailureLimiter):
    """The same limits, counted in the database: a guesser spreading tries over the API
    processes of a fleet meets one count."""

    def __init__(self, limit: int, window: float, db: Database) -> None:
        super().__init__(limit, window, clock=time.time)
        self.db = db

    def check(self, request: Request, target: str, kind: str) -> Attempt:
        attempt = self.attempt(request, target, kind)
        if self.limit <= 0:
            return attempt
        now = self.clock()
        with self.db.session() as session:
            counts = guess_counters.recent(session, [k for k, _ in attempt.keys], now - self.window)
        wait = 0.0
        for key, ceiling in attempt.keys:
            count, oldest = counts.get(key, (0, now))
            if count >= ceiling:
                wait = max(wait, oldest + self.window - now)
        if wait > 0:
            raise TooManyFailures(max(1, math.ceil(wait)), self.limit)
        return attempt

    def failed(self, attempt: Attempt) -> None:
        if self.limit <= 0:
            return
        now = self.clock()
        with self._lock:
            self._since_prune += 1
            prune = self._since_prune >= PRUNE_EVERY
            if prune:
                self._since_prune = 0
        with self.db.session() as session:
            guess_counters.record(session, [k for k, _ in attempt.keys], now)
            if prune:
                guess_counters.prune(session, now - self.window)


def auth_failures(request: Request) -> FailureLimiter:
    """The engine's limiter (one per app; see create_app)."""
    limiter: FailureLimiter = request.app.state.auth_failures
    return limiter


class TooManyAttempts(APIError):
    def __init__(self, retry_after: int) -> None:
        super().__init__(
            429,
            "Too many connection attempts in progress for this app or address. "
            f"Try again in {retry_after} seconds.",
            API_ERROR,
            headers={"Retry-After": str(retry_after)},
        )


class ConcurrencyCap:
    """At most `limit` requests at once under each key (a client id, a client IP): the
    mail-server checks of `/connect/authorize` hold a thread and sockets for seconds, so one
    caller must not be able to start many. Over the cap: 429 with `Retry-After`."""

    def __init__(self, limit: int, retry_after: int) -> None:
        self.limit = limit
        self.retry_after = retry_after
        self._running: dict[str, int] = {}
        self._lock = threading.Lock()

    @classmethod
    def for_connect(cls) -> ConcurrencyCap:
        """The cap of `/connect/authorize`: a few checks at once, each at most
        CONNECT_SECONDS long."""
        return cls(CONNECT_AT_ONCE, math.ceil(CONNECT_SECONDS))

    @contextlib.contextmanager
    def hold(self, keys: list[str]) -> Iterator[None]:
        with self._lock:
            if any(self._running.get(key, 0) >= self.limit for key in keys):
                raise TooManyAttempts(self.retry_after)
            for key in keys:
                self._running[key] = self._running.get(key, 0) + 1
        try:
            yield
        finally:
            with self._lock:
                for key in keys:
                    left = self._running[key] - 1
                    if left:
                        self._running[key] = left
                    else:
                        del self._running[key]


def connect_attempts(request: Request) -> ConcurrencyCap:
    """The engine's cap on concurrent `/connect/authorize` checks (see create_app)."""
    cap: ConcurrencyCap = request.app.state.connect_attempts
    return cap


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "-"
