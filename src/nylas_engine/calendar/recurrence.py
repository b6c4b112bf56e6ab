"""Recurring events: validate a `recurrence` object and expand a master into its instances.

A recurrence is `{"rrule": ["RRULE:...", "EXDATE:...", ...], "timezone": "<IANA>"}`
(docs/protocol.md §12). Timed events repeat on the wall clock of that zone, so a 09:00
meeting stays at 09:00 across daylight-saving changes; all-day events repeat in UTC days.
Values without a zone (`EXDATE:20240315T090000`, `UNTIL=20240401`) are read in the event's
zone.

Expansion is bounded, because a rule comes from a client: it stops at the end of the
requested window, at most `MAX_INSTANCES` instances come out per master, and a window
more than `MAX_SKIPPED` occurrences after the series began yields none (dateutil would walk
every one of them). Rules finer than daily, and month days that no month of the rule has,
are refused when the event is written, since dateutil searches such an empty rule up to the
year 9999.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr

from nylas_engine.calendar.when import InvalidInput, When, is_time_zone

MAX_INSTANCES = 10_000
# dateutil walks a series from its first occurrence; a window centuries after that start
# would take seconds to reach, so such a window gets no instances.
MAX_SKIPPED = 100_000
MAX_LINES = 50
# Rules finer than a day are not calendar events, and dateutil walks every period of a rule
# that never matches (to the year 9999): refusing them keeps expansion cheap.
_REFUSED_FREQ = re.compile(r"FREQ=(SECONDLY|MINUTELY|HOURLY)", re.IGNORECASE)
_PREFIX = re.compile(r"^(RRULE|EXRULE|RDATE|EXDATE)([:;])", re.IGNORECASE)
_NAIVE_UNTIL = re.compile(r"UNTIL=(\d{8}(?:T\d{6})?)(?=;|$)", re.IGNORECASE)


def parse_recurrence(raw: Any, when: When) -> dict[str, Any]:
    """Check a client's recurrence against the event's `when`; return what to store."""
    if not isinstance(raw, dict):
        raise InvalidInput("'recurrence' must be an object with an 'rrule' list.")
    lines = raw.get("rrule")
    if (
        not isinstance(lines, list)
        or not lines
        or len(lines) > MAX_LINES
        or not all(isinstance(line, str) and line.strip() for line in lines)
    ):
        raise InvalidInput("'recurrence.rrule' must be a non-empty list of iCalendar lines.")
    zone = raw.get("timezone") or "UTC"
    if not isinstance(zone, str) or not is_time_zone(zone):
        raise InvalidInput("'recurrence.timezone' must be an IANA time zone name.")
    lines = [line.strip() for line in lines]
    for line in lines:
        if not _PREFIX.match(line):
            raise InvalidInput(
                f"Invalid recurrence line {line!r}: expected RRULE:, EXRULE:, RDATE: or EXDATE:."
            )
        if _REFUSED_FREQ.search(line):
            raise InvalidInput("Recurrence more frequent than daily is not supported.")
    if not any(line.upper().startswith(("RRULE", "RDATE")) for line in lines):
        raise InvalidInput("'recurrence.rrule' needs an RRULE or RDATE line.")
    recurrence = {"rrule": lines, "timezone": zone}
    try:
        rules = _parse(recurrence, when)
        if not all(_can_match(rule) for rule in rules._rrule):
            raise InvalidInput("Invalid recurrence rule: it has no occurrence.")
        first = next(occurrences(recurrence, when, _start(recurrence, when) + _YEARS_100), None)
    except (ValueError, TypeError, OverflowError) as exc:
        if isinstance(exc, InvalidInput):
            raise
        raise InvalidInput(f"Invalid recurrence rule: {exc}") from exc
    if first is None:
        raise InvalidInput("Invalid recurrence rule: it has no occurrence.")
    return recurrence


_YEARS_100 = timedelta(days=36525)


def occurrences(
    recurrence: dict[str, Any], when: When, until: datetime, after: datetime | None = None
) -> Iterator[datetime]:
    """Start times of the series (aware datetimes), in order, from `after` (inclusive) up to
    and including `until`; at most MAX_INSTANCES of them."""
    count = skipped = 0
    for occurrence in _parse(recurrence, when):
        if occurrence > until or count >= MAX_INSTANCES:
            return
        if after is not None and occurrence < after:
            skipped += 1
            if skipped > MAX_SKIPPED:
                return
            continue
        count += 1
        yield occurrence


def instance_suffix(start: datetime) -> str:
    """`YYYYMMDDTHHMMSSZ` of an instance's original start (its id is `<master>_<suffix>`)."""
    return start.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def _parse(recurrence: dict[str, Any], when: When) -> Any:
    start = _start(recurrence, when)
    text = "\n".join(_localize(line, start.tzinfo) for line in recurrence["rrule"])
    return rrulestr(text, dtstart=start, forceset=True)


_MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _can_match(rule: Any) -> bool:
    """False for a rule whose month days exist in none of its months (`BYMONTH=2;BYMONTHDAY=30`),
    the one kind of empty rule a person writes; dateutil would search it for seconds. Reads
    dateutil's parsed fields, which include the month and day it takes from DTSTART."""
    days = tuple(rule._bymonthday or ()) + tuple(rule._bynmonthday or ())
    if not days:
        return True
    months = rule._bymonth or range(1, 13)
    return any(abs(day) <= _MONTH_DAYS[month - 1] for month in months for day in days)


def _start(recurrence: dict[str, Any], when: When) -> datetime:
    if when.all_day:
        return datetime.fromtimestamp(when.start_ts, tz=timezone.utc)
    zone = ZoneInfo(recurrence.get("timezone") or "UTC")
    return datetime.fromtimestamp(when.start_ts, tz=zone)


def _localize(line: str, zone: Any) -> str:
    """Give zone-less EXDATE/RDATE values and UNTIL the event's zone (dateutil needs one)."""
    name = getattr(zone, "key", None) or "UTC"
    head, _, values = line.partition(":")
    kind = head.split(";")[0].upper()
    if kind in ("EXDATE", "RDATE") and "TZID=" not in head.upper():
        if not values.upper().endswith("Z"):
            return f"{head};TZID={name}:{values}"
        return line
    if kind in ("RRULE", "EXRULE"):
        return _NAIVE_UNTIL.sub(lambda m: "UNTIL=" + _utc_until(m.group(1), zone), line)
    return line


def _utc_until(value: str, zone: Any) -> str:
    if "T" in value.upper():
        local = datetime.strptime(value.upper(), "%Y%m%dT%H%M%S").replace(tzinfo=zone)
    else:  # a date: the whole day counts
        day = datetime.strptime(value, "%Y%m%d")
        local = day.replace(hour=23, minute=59, second=59, tzinfo=zone)
    return local.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
