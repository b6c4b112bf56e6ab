"""Write-back operations the server refused: counted, retried a few times, then dropped.

A tagged NO or BAD to one command (a folder name the server rejects, a permission it
denies, a folder gone, a quota) is the failure of that operation only: the connection is
fine, the account stays `running` and the rest of its sync goes on. The operation is tried
again with a later write-back, `RETRY_AFTER` seconds times the attempts so far later, at most
`MAX_ATTEMPTS` times in all. Then it is dropped with a log line, and the caller undoes the
API's change so the API shows what the server has (a folder that could not be created goes
away, a rename or delete is undone, a message's flags and folders go back to the server's);
clients see that undo in the delta feed, on the object itself.

The counts live as long as the worker's connection: a restart tries each pending change
again, a bounded number of times.
"""

from __future__ import annotations

import logging
import time

Key = tuple[str, int]  # (operation kind, object id)

log = logging.getLogger("nylas_engine.sync")

MAX_ATTEMPTS = 3
RETRY_AFTER = 5.0  # seconds before the 2nd attempt; doubled before the 3rd


class Refusals:
    """Refused operations of one account, by a key naming the operation and its object."""

    def __init__(self, account_id: int) -> None:
        self.account_id = account_id
        self._attempts: dict[Key, int] = {}
        self._retry_at: dict[Key, float] = {}  # epoch seconds
        self._nudges: list[float] = []  # retry times `due` has not reported yet

    def ready(self, key: Key) -> bool:
        """True unless the operation was refused and its retry is not due yet."""
        return time.time() >= self._retry_at.get(key, 0.0)

    def retry_at(self, key: Key) -> float | None:
        """When (epoch seconds) a refused operation is to be tried again; None if it is not
        waiting."""
        return self._retry_at.get(key)

    def due(self) -> bool:
        """True once for each retry that has come due since the last call: the caller runs
        a write-back then (which retries whatever is ready)."""
        now = time.time()
        passed = [at for at in self._nudges if at <= now]
        self._nudges = [at for at in self._nudges if at > now]
        return bool(passed)

    def waiting(self) -> set[Key]:
        return set(self._retry_at)

    def refused(self, key: Key, what: str, error: BaseException | str) -> bool:
        """Count a refusal of `what` (e.g. "CREATE of folder 'Projects'"). True if it is to be
        dropped now (the caller undoes the API's change), False if it is to be retried."""
        attempts = self._attempts.get(key, 0) + 1
        reason = _reason(error)
        if attempts >= MAX_ATTEMPTS:
            self.done(key)
            log.warning(
                "account %s: the server refused %s %d times; dropped (%s)",
                self.account_id,
                what,
                attempts,
                reason,
            )
            return True
        self._attempts[key] = attempts
        self._retry_at[key] = time.time() + RETRY_AFTER * 2 ** (attempts - 1)
        self._nudges.append(self._retry_at[key])
        log.info(
            "account %s: the server refused %s (attempt %d of %d): %s",
            self.account_id,
            what,
            attempts,
            MAX_ATTEMPTS,
            reason,
        )
        return False

    def done(self, key: Key) -> None:
        """The operation went through (or was dropped): forget its refusals."""
        self._attempts.pop(key, None)
        self._retry_at.pop(key, None)


def _reason(error: BaseException | str) -> str:
    text = str(error)
    if text.startswith(("b'", 'b"')):  # imaplib puts server replies in as bytes reprs
        text = text[2:-1]
    return text
