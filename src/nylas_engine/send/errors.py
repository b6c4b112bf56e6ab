"""SMTP replies turned into the errors of docs/protocol.md §2.3 (their HTTP status included).

The HTTP status says what the client can do about it: 402 the provider rejected the message
(retrying will not help), 429 the provider is throttling (retry later), 403 our credentials
are wrong, 503 the server could not be reached or failed in a way we do not recognise.
`server_error` always carries the server's own words as `"<code> : <text>"`.
"""

from __future__ import annotations

from typing import Any

from nylas_engine.errors import API_ERROR, DomainError

REJECTED = 402
THROTTLED = 429
UNAVAILABLE = 503

# (reply code, enhanced status substring) -> (HTTP status, message)
_TABLE: dict[int, list[tuple[str, int, str]]] = {
    421: [
        ("4.4.5", UNAVAILABLE, "Server busy, try again later."),
        ("4.7.0", THROTTLED, "Connection throttled by the provider. Try again later."),
        ("4.7.2", THROTTLED, "Connection throttled by the provider. Try again later."),
    ],
    450: [
        ("4.2.1", THROTTLED, "The recipient is receiving mail too fast. Try again later."),
        ("4.3.0", THROTTLED, "Temporary provider send throttling. Try again later."),
        ("4.7.1", THROTTLED, "Temporary provider send throttling. Try again later."),
    ],
    451: [
        ("4.3.5", THROTTLED, "Temporary provider send throttling. Try again later."),
        ("4.7.1", THROTTLED, "Temporary provider send throttling. Try again later."),
    ],
    452: [("4.5.3", REJECTED, "The message has too many recipients.")],
    454: [("4.7.0", THROTTLED, "Temporary provider send throttling. Try again later.")],
    522: [("5.7.1", REJECTED, "Recipient address rejected.")],
    530: [("5.7.0", REJECTED, "Recipient address rejected.")],
    535: [("5.7.1", THROTTLED, "The provider refused to send right now. Try again later.")],
    550: [
        ("5.1.1", REJECTED, "Recipient address rejected: no such user."),
        ("5.2.1", REJECTED, "Recipient address rejected: the mailbox is disabled."),
        ("5.7.0", REJECTED, "Relay access denied."),
        ("5.3.2", THROTTLED, "The provider is busy. Try again later."),
        ("5.4.5", THROTTLED, "Daily sending quota exceeded."),
        ("5.4.6", THROTTLED, "Sending quota exceeded."),
        ("5.7.1", THROTTLED, "Sending limit exceeded. Try again later."),
    ],
    552: [
        ("5.2.3", REJECTED, "Message too large."),
        ("5.3.4", REJECTED, "Message too large."),
        ("5.7.0", REJECTED, "Message content rejected for security reasons."),
        ("5.7.1", REJECTED, "Message content rejected for security reasons."),
    ],
    553: [
        ("5.1.2", REJECTED, "Recipient domain not found."),
        ("5.7.1", REJECTED, "Sender address rejected."),
    ],
    554: [
        ("5.6.0", REJECTED, "Message malformed: not accepted."),
        ("5.7.1", REJECTED, "Message rejected."),
    ],
}
# Text-only rules, checked after the table (providers word these the same across codes).
_TEXT_RULES = [
    ("classified as spam", REJECTED, "Message rejected as spam."),
    ("exceeded recipient rate limit", THROTTLED, "Recipient rate limit exceeded."),
    ("24-hour sending limit", THROTTLED, "Daily sending limit exceeded."),
]


class SendError(DomainError):
    """A send that did not go out (or only partly). `status` is the HTTP status §2.3 gives
    the SMTP server's answer (the table above); api/errors.py answers with it."""

    type = API_ERROR

    def __init__(
        self,
        status: int,
        message: str,
        *,
        server_error: str | None = None,
        failures: dict[str, list[Any]] | None = None,
        type: str = API_ERROR,
    ) -> None:
        super().__init__(message, type=type, server_error=server_error, failures=failures or None)
        self.status = status
        self.server_error = server_error
        self.failures = failures
        # Set when the connection failed after DATA began: the message may have gone out.
        self.outcome_unknown = False


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply


def server_error(code: int, reply: bytes | str) -> str:
    return f"{code} : {_text(reply)}"


def classify(code: int, reply: bytes | str) -> tuple[int, str] | None:
    """The (status, message) a reply maps to, or None when no rule matches."""
    text = _text(reply)
    for stem, status, message in _TABLE.get(code, []):
        if stem in text:
            return status, message
    lowered = text.lower()
    for needle, status, message in _TEXT_RULES:
        if needle in lowered:
            return status, message
    return None


def from_reply(code: int, reply: bytes | str) -> SendError:
    """A failed SMTP command (MAIL, DATA, end of data, ...): the table, else 503."""
    status, message = classify(code, reply) or (UNAVAILABLE, "Sending failed.")
    return SendError(status, message, server_error=server_error(code, reply))


def all_refused(refused: dict[str, tuple[int, bytes]]) -> SendError:
    """No recipient was accepted: 402, unless the server only asked us to slow down."""
    code, reply = next(iter(refused.values()))
    hit = classify(code, reply)
    status = hit[0] if hit and hit[0] == THROTTLED else REJECTED
    return SendError(
        status,
        "Sending to all recipients failed",
        server_error=server_error(code, reply),
        failures=failures(refused),
    )


def partly_refused(refused: dict[str, tuple[int, bytes]]) -> SendError:
    """Some recipients refused: the message went out, the reply is 200 with this body (§2.2)."""
    return SendError(200, "Sending to at least one recipent failed", failures=failures(refused))


def failures(refused: dict[str, tuple[int, bytes]]) -> dict[str, list[Any]]:
    return {email: [code, _text(reply)] for email, (code, reply) in refused.items()}


def auth_failed(code: int, reply: bytes | str) -> SendError:
    if code == 454 or (400 <= code < 500 and "4.7.0" in _text(reply)):
        return SendError(
            THROTTLED, "Temporary provider send throttling", server_error=server_error(code, reply)
        )
    return SendError(
        403, "Could not authenticate with the SMTP server.", server_error=server_error(code, reply)
    )


def disconnected(detail: str = "") -> SendError:
    return SendError(
        UNAVAILABLE,
        "The server unexpectedly closed the connection",
        server_error=detail or None,
    )


def unreachable(detail: str) -> SendError:
    return SendError(UNAVAILABLE, "Could not connect to the SMTP server.", server_error=detail)


def not_configured(email_address: str) -> SendError:
    """A 400, not a 503: no retry can help until an operator gives the account a server."""
    return SendError(
        400,
        "This account has no SMTP server configured, so it cannot send mail. Give it one: "
        f"`nylas-engine accounts add --email {email_address} --imap-host IMAP_HOST "
        "--smtp-host SMTP_HOST --password-env VAR` (or POST /connect/authorize with "
        "smtp_host); a local account takes `--smtp-host HOST --smtp-port PORT` when it is "
        "added. The accounts of `nylas-engine demo` send through its local mail sink while "
        "the demo runs.",
        type="invalid_request_error",
    )
