"""Query-string parsing with the rules of docs/protocol.md §1.6 and §3.

Unknown parameters are ignored (the hosted API was lenient and SDKs send extras, §18).
Every bad value becomes a 400 JSON error with a message that names the parameter.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parseaddr

from fastapi import Request
from starlette.datastructures import QueryParams

from nylas_engine.api.errors import bad_request
from nylas_engine.ids import check_id as check_id

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
MAX_STRING = 255
MAX_OFFSET = 2**63 - 1  # a 64-bit SQL integer: larger values overflow the query, not the page


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


@dataclass
class Page:
    limit: int
    offset: int


class Query:
    """Typed access to a request's query parameters."""

    def __init__(self, request: Request) -> None:
        self.params = request.query_params

    @classmethod
    def from_values(cls, values: Mapping[str, str | None]) -> Query:
        """The same rules over parameters a route declared (absent ones as None)."""
        query = cls.__new__(cls)
        query.params = QueryParams({k: v for k, v in values.items() if v is not None})
        return query

    def __contains__(self, name: str) -> bool:
        return name in self.params

    def string(self, name: str, *aliases: str) -> str | None:
        for key in (name, *aliases):
            value = self.params.get(key)
            if value is not None:
                if len(value) > MAX_STRING:
                    raise bad_request(f"Value for {key} is longer than {MAX_STRING} characters")
                return value
        return None

    def boolean(self, name: str, default: bool | None = None) -> bool | None:
        value = self.params.get(name)
        return default if value is None else parse_bool(name, value)

    def timestamp(self, name: str) -> int | None:
        value = self.params.get(name)
        return None if value is None or value == "" else parse_timestamp(name, value)

    def id(self, name: str) -> str | None:
        value = self.params.get(name)
        return None if value is None else check_id(value)

    def emails(self, name: str) -> list[str] | None:
        """A comma-separated address list (any_email): at most 25, each must parse."""
        value = self.string(name)
        if value is None:
            return None
        items = [v.strip() for v in value.split(",") if v.strip()]
        if len(items) > 25:
            raise bad_request(f"Too many emails in {name}: at most 25 are allowed")
        result = []
        for item in items:
            address = parseaddr(item)[1]
            if "@" not in address:
                raise bad_request(f"Invalid email address in {name}: {item}")
            result.append(address.lower())
        return result

    def page(self) -> Page:
        return Page(self._non_negative("limit", DEFAULT_LIMIT), self._non_negative("offset", 0))

    def _non_negative(self, name: str, default: int) -> int:
        value = self.params.get(name)
        if value is None:
            return default
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

    def view(self, allowed: tuple[str, ...] = ("count", "ids", "expanded")) -> str | None:
        value = self.params.get("view")
        if value is None or value == "":
            return None
        if value not in allowed:
            raise bad_request(f"Unknown view type {value!r}: expected one of {', '.join(allowed)}")
        return value
