"""The four `when` shapes of docs/protocol.md §4, validated, and the time range they cover.

`start_ts`/`end_ts` are what the events table filters and sorts on: a timed event covers
[start, end]; an all-day `date` covers its whole UTC day and a `datespan` runs until the
midnight after `end_date`, so "ends_after noon" finds an event on that day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAY = 86400
# Hosted v2 let a `when` carry IANA zone names next to its times; they are kept as sent.
_ZONE_KEYS = ("timezone", "start_timezone", "end_timezone")
_SHAPES = {
    frozenset({"time"}): "time",
    frozenset({"start_time", "end_time"}): "timespan",
    frozenset({"date"}): "date",
    frozenset({"start_date", "end_date"}): "datespan",
}


class InvalidInput(ValueError):
    """A client sent a value the API refuses; the message is the 400 text."""


@dataclass(frozen=True)
class When:
    data: dict[str, Any]  # the normalized JSON object, with "object"
    start_ts: int
    end_ts: int

    @property
    def all_day(self) -> bool:
        return self.data["object"] in ("date", "datespan")


def parse_when(raw: Any) -> When:
    """Validate a client's `when` (its `object` key is optional and ignored)."""
    if not isinstance(raw, dict):
        raise InvalidInput("When object had invalid keys.")
    keys = frozenset(k for k in raw if k != "object" and k not in _ZONE_KEYS)
    shape = _SHAPES.get(keys)
    if shape is None:
        raise InvalidInput("When object had invalid keys.")
    zones = {k: _zone_name(k, raw[k]) for k in _ZONE_KEYS if raw.get(k) is not None}
    if shape == "time":
        return time_when(_timestamp("time", raw["time"]), zones)
    if shape == "timespan":
        start = _timestamp("start_time", raw["start_time"])
        end = _timestamp("end_time", raw["end_time"])
        if start > end:
            raise InvalidInput("'start_time' must be < 'end_time'.")
        return timespan_when(start, end, zones)
    if shape == "date":
        return date_when(_date("date", raw["date"]), zones)
    start_day = _date("start_date", raw["start_date"])
    end_day = _date("end_date", raw["end_date"])
    if start_day > end_day:
        raise InvalidInput("'start_date' must be < 'end_date'.")
    return datespan_when(start_day, end_day, zones)


def time_when(ts: int, zones: dict[str, str] | None = None) -> When:
    return When({"object": "time", "time": ts, **(zones or {})}, ts, ts)


def timespan_when(start: int, end: int, zones: dict[str, str] | None = None) -> When:
    if start == end:
        return time_when(start, zones)
    data = {"object": "timespan", "start_time": start, "end_time": end, **(zones or {})}
    return When(data, start, end)


def date_when(day: date, zones: dict[str, str] | None = None) -> When:
    start = day_start(day)
    return When({"object": "date", "date": day.isoformat(), **(zones or {})}, start, start + DAY)


def datespan_when(first: date, last: date, zones: dict[str, str] | None = None) -> When:
    if first == last:
        return date_when(first, zones)
    data = {
        "object": "datespan",
        "start_date": first.isoformat(),
        "end_date": last.isoformat(),
        **(zones or {}),
    }
    return When(data, day_start(first), day_start(last) + DAY)


def stored_when(data: dict[str, Any]) -> When:
    """A `when` already in the database (trusted), with its time range."""
    return parse_when(data)


def shifted(when: When, start: datetime) -> When:
    """The same `when` moved to begin at `start` (a recurrence instance), keeping its length."""
    zones = {k: v for k, v in when.data.items() if k in _ZONE_KEYS}
    kind = when.data["object"]
    if kind in ("date", "datespan"):
        first = start.astimezone(timezone.utc).date() if start.tzinfo else start.date()
        if kind == "date":
            return date_when(first, zones)
        length = date.fromisoformat(when.data["end_date"]) - date.fromisoformat(
            when.data["start_date"]
        )
        return datespan_when(first, first + length, zones)
    ts = int(start.timestamp())
    if kind == "time":
        return time_when(ts, zones)
    return timespan_when(ts, ts + (when.end_ts - when.start_ts), zones)


def day_start(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp())


def _timestamp(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInput(f"'{name}' must be a UNIX timestamp (integer seconds).")
    if value != value or abs(value) > 253402300799:  # NaN, or past year 9999
        raise InvalidInput(f"'{name}' is out of range.")
    return int(value)


def _date(name: str, value: Any) -> date:
    if not isinstance(value, str):
        raise InvalidInput(f"'{name}' must be a date string YYYY-MM-DD.")
    try:
        if len(value) != 10:
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInput(f"'{name}' must be a date string YYYY-MM-DD.") from exc


def _zone_name(name: str, value: Any) -> str:
    if not isinstance(value, str) or not is_time_zone(value):
        raise InvalidInput(f"'{name}' must be an IANA time zone name such as 'Europe/Paris'.")
    return value


def is_time_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: "America", too long
        return False
    return True


def utc(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, tz=timezone.utc)


__all__ = [
    "DAY",
    "InvalidInput",
    "When",
    "parse_when",
    "shifted",
    "stored_when",
]
