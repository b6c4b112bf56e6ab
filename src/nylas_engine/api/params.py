"""Query-string parsing with the rules of docs/protocol.md §1.6 and §3.

Unknown parameters are ignored (the hosted API was lenient and SDKs send extras, §18).
Every bad value becomes a 400 JSON error with a message that names the parameter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parseaddr

from nylas_engine.api.errors import bad_request
from nylas_engine.ids import check_id as check_id  # re-exported for the routes

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
MAX_STRING = 255
MAX_OFFSET = 2**63 - 1  # a 64-bit SQL integer: larger values overflow the query, not the page
MAX_TIMEOUT = 3600  # the longest wait a client may ask for (delta longpoll and streaming)


def parse_bool(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise bad_request(f'"{name}" must be true or false')


def parse_timestamp(name: str, value: str) -> int:
    """Unix seconds, or an ISO-8601 date/time (naive values are taken as UTC)."""
    text = value.strip()
    try:
        number = float(text)
    except ValueError:
        pass
    else:
        # Years 1..9999 only: larger values overflow datetimes and SQL integers (NaN fails too).
        if not -62135596800 <= number <= 253402300799:
            raise bad_request(f"Invalid timestamp for {name}: {value!r}")
        return int(number)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise bad_request(f"Invalid timestamp for {name}: {value!r}") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return int(parsed.timestamp())


def parse_text(name: str, value: str) -> str:
    if len(value) > MAX_STRING:
        raise bad_request(f"Value for {name} is longer than {MAX_STRING} characters")
    return value


def parse_emails(name: str, value: str) -> list[str]:
    """A comma-separated address list (any_email): at most 25, each must parse."""
    items = [v.strip() for v in parse_text(name, value).split(",") if v.strip()]
    if len(items) > 25:
        raise bad_request(f"Too many emails in {name}: at most 25 are allowed")
    result = []
    for item in items:
        address = parseaddr(item)[1]
        if "@" not in address:
            raise bad_request(f"Invalid email address in {name}: {item}")
        result.append(address.lower())
    return result


def parse_count(name: str, value: str) -> int:
    """`limit` or `offset`: a non-negative integer (an empty value is a 400 too)."""
    try:
        number = int(value)
    except ValueError as exc:
        raise bad_request(f"{name.capitalize()} parameter must be an integer.") from exc
    if number < 0:
        raise bad_request(f"{name.capitalize()} parameter must be nonnegative.")
    if name == "limit" and number > MAX_LIMIT:
        raise bad_request(f"Cannot request more than {MAX_LIMIT} resources at once.")
    if number > MAX_OFFSET:
        raise bad_request(f"{name.capitalize()} parameter is too large.")
    return number


def parse_view(value: str, allowed: tuple[str, ...] = ("count", "ids", "expanded")) -> str | None:
    if value == "":
        return None
    if value not in allowed:
        raise bad_request(f"Unknown view type {value!r}: expected one of {', '.join(allowed)}")
    return value


def parse_timeout(value: str) -> float | None:
    if value == "":
        return None
    try:
        seconds = float(value)
    except ValueError as exc:
        raise bad_request("Timeout parameter must be a number of seconds.") from exc
    if not 0 <= seconds <= MAX_TIMEOUT:  # also rejects NaN and the infinities
        raise bad_request(f"Timeout parameter must be a number of seconds from 0 to {MAX_TIMEOUT}.")
    return seconds


@dataclass
class Page:
    limit: int
    offset: int
