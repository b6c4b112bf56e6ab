"""Free-busy and availability (hosted v2 `POST /calendars/free-busy`, `/calendars/availability`
and `/calendars/availability/consecutive`), computed from busy intervals; no I/O here.

Requests are parsed into `AvailabilityRequest` (every option hosted v2 had is either applied
or refused with `InvalidInput`, never ignored). Times are Unix seconds; an interval is
half-open `[start, end)`, so a meeting that ends at 10:00 leaves 10:00 free.

Candidate slots start on multiples of `interval_minutes` (counted from the Unix epoch, so a
30-minute interval gives :00 and :30) at or after `start_time`, and must end by `end_time`.
A slot is free for an email when no busy interval, widened by `buffer` minutes on each
side, overlaps it, and it lies inside that email's `open_hours` (if any were given for it).

The work is bounded because every bound comes from the client: at most `MAX_EMAILS` emails,
a window of at most `MAX_RANGE` seconds, at most `MAX_CANDIDATES` candidate slots, at most
`MAX_CHECKS` (slot, email) pairs, and for consecutive availability at most `MAX_GROUPS`
meetings, whose orders are all tried at each start: candidates x orders is at most
`MAX_CANDIDATES`, which also bounds the size of the answer.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from nylas_engine.calendar.fields import is_email
from nylas_engine.calendar.when import InvalidInput, is_time_zone

MAX_EMAILS = 50
MAX_RANGE = 93 * 86400  # hosted v2 (Google) answered about three months at a time
MAX_CANDIDATES = 50_000
MAX_CHECKS = 500_000  # candidate slots x emails, for single availability
MAX_GROUPS = 4
MAX_SLOTS_PER_EMAIL = 10_000  # caller-supplied `free_busy` time slots per email
ROUND_ROBIN = ("max-availability", "max-fairness")

Span = tuple[int, int]


# ------------------------------------------------------------------------------- parsing


def timestamp(name: str, value: Any) -> int:
    """A Unix time as hosted took it: an integer, or a string of digits (Node SDK 6 sends
    `start_time` of free-busy as a string)."""
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value.strip())
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"'{name}' must be a UNIX timestamp (integer seconds).")
    if abs(value) > 253402300799:
        raise InvalidInput(f"'{name}' is out of range.")
    return value


def time_range(body: dict[str, Any]) -> Span:
    start = timestamp("start_time", body.get("start_time"))
    end = timestamp("end_time", body.get("end_time"))
    if end <= start:
        raise InvalidInput("'end_time' must be after 'start_time'.")
    if end - start > MAX_RANGE:
        raise InvalidInput(f"The time range may span at most {MAX_RANGE // 86400} days.")
    return start, end


def email_list(name: str, value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidInput(f"'{name}' must be a list of email addresses.")
    for address in value:
        if not is_email(address):
            raise InvalidInput(f"'{name}' holds an invalid email address: {address!r}.")
    return list(dict.fromkeys(v.lower() for v in value))


@dataclass(frozen=True)
class CalendarRef:
    """One entry of `calendars`: calendars of an account (by public ids) to read busy times from."""

    account_id: str
    calendar_ids: tuple[str, ...]


def calendar_refs(value: Any) -> list[CalendarRef]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_EMAILS:
        raise InvalidInput(f"'calendars' must be a list of at most {MAX_EMAILS} objects.")
    refs = []
    for item in value:
        ids = item.get("calendar_ids") if isinstance(item, dict) else None
        account_id = item.get("account_id") if isinstance(item, dict) else None
        if (
            not isinstance(account_id, str)
            or not isinstance(ids, list)
            or not ids
            or len(ids) > 100
            or not all(isinstance(i, str) for i in ids)
        ):
            raise InvalidInput(
                "Each entry of 'calendars' must be an object "
                "with 'account_id' and a list of 'calendar_ids'."
            )
        refs.append(CalendarRef(account_id, tuple(ids)))
    return refs


def _minutes(name: str, value: Any, *, default: int | None = None, low: int = 1) -> int:
    if value is None and default is not None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= 1440:
        raise InvalidInput(f"'{name}' must be a whole number of minutes from {low} to 1440.")
    return value


@dataclass(frozen=True)
class OpenHours:
    """Times an email may be booked: on `days` (0 = Monday), from `start` to `end` local time
    in `zone`."""

    emails: frozenset[str]
    days: frozenset[int]
    zone: ZoneInfo
    start: time
    end: time | None  # None: until midnight ("24:00")

    def contains(self, span: Span) -> bool:
        local = datetime.fromtimestamp(span[0], tz=self.zone)
        if local.weekday() not in self.days or local.time() < self.start:
            return False
        day_end = (
            datetime.combine(local.date(), self.end, self.zone)
            if self.end is not None
            else datetime.combine(local.date() + timedelta(days=1), time(0), self.zone)
        )
        return span[1] <= int(day_end.timestamp())


def _clock(name: str, value: Any, *, end: bool) -> time | None:
    if not isinstance(value, str) or len(value.split(":")) != 2:
        raise InvalidInput(f"'open_hours.{name}' must be a time 'HH:MM'.")
    hours, minutes = value.split(":")
    if not (hours.isdigit() and minutes.isdigit()):
        raise InvalidInput(f"'open_hours.{name}' must be a time 'HH:MM'.")
    if end and int(hours) == 24 and int(minutes) == 0:
        return None
    if int(hours) > 23 or int(minutes) > 59:
        raise InvalidInput(f"'open_hours.{name}' must be a time 'HH:MM'.")
    return time(int(hours), int(minutes))


def open_hours_list(value: Any, known: set[str]) -> list[OpenHours]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > 100:
        raise InvalidInput("'open_hours' must be a list of at most 100 objects.")
    parsed = []
    for item in value:
        if not isinstance(item, dict):
            raise InvalidInput("Each entry of 'open_hours' must be an object.")
        emails = email_list("open_hours.emails", item.get("emails"))
        stray = [e for e in emails if e not in known]
        if stray:
            raise InvalidInput(
                "Open Hours cannot contain an email not present in the main email list or the "
                f"free busy email list: {', '.join(stray)}."
            )
        days = item.get("days")
        if not isinstance(days, list) or not days:
            raise InvalidInput("'open_hours.days' must be a list of days, 0 (Monday) to 6.")
        numbers = set()
        for day in days:
            if isinstance(day, str) and day.isdigit():
                day = int(day)
            if isinstance(day, bool) or not isinstance(day, int) or not 0 <= day <= 6:
                raise InvalidInput("'open_hours.days' must be a list of days, 0 (Monday) to 6.")
            numbers.add(day)
        zone = item.get("timezone")
        if not isinstance(zone, str) or not is_time_zone(zone):
            raise InvalidInput("'open_hours.timezone' must be an IANA time zone name.")
        start = _clock("start", item.get("start"), end=False)
        end = _clock("end", item.get("end"), end=True)
        assert start is not None
        if end is not None and end <= start:
            raise InvalidInput("'open_hours.end' must be after 'open_hours.start'.")
        parsed.append(OpenHours(frozenset(emails), frozenset(numbers), ZoneInfo(zone), start, end))
    return parsed


def supplied_busy(value: Any) -> dict[str, list[Span]]:
    """`free_busy`: busy times of people the engine does not hold, as a client got them
    elsewhere (`[{"email", "time_slots": [{"start_time", "end_time", "status"?}]}]`)."""
    if value is None:
        return {}
    if not isinstance(value, list) or len(value) > MAX_EMAILS:
        raise InvalidInput(f"'free_busy' must be a list of at most {MAX_EMAILS} objects.")
    found: dict[str, list[Span]] = {}
    for item in value:
        if not isinstance(item, dict):
            raise InvalidInput("Each entry of 'free_busy' must be an object.")
        email = email_list("free_busy.email", [item.get("email")])[0]
        slots = item.get("time_slots")
        if not isinstance(slots, list) or len(slots) > MAX_SLOTS_PER_EMAIL:
            raise InvalidInput(
                f"'free_busy.time_slots' must be a list of at most {MAX_SLOTS_PER_EMAIL} objects."
            )
        spans = found.setdefault(email, [])
        for slot in slots:
            if not isinstance(slot, dict):
                raise InvalidInput("Each entry of 'free_busy.time_slots' must be an object.")
            if slot.get("status", "busy") != "busy":
                continue
            start = timestamp("free_busy.time_slots.start_time", slot.get("start_time"))
            end = timestamp("free_busy.time_slots.end_time", slot.get("end_time"))
            if end < start:
                raise InvalidInput("A 'free_busy' time slot ends before it starts.")
            spans.append((start, end))
    return found


@dataclass
class AvailabilityRequest:
    """A validated availability request. `groups` holds one list of emails per meeting: one
    group for single availability, one per consecutive meeting otherwise."""

    groups: list[list[str]]
    start: int
    end: int
    duration: int  # seconds
    interval: int  # seconds
    buffer: int  # seconds
    tentative_busy: bool
    round_robin: str | None
    calendars: list[CalendarRef]
    supplied: dict[str, list[Span]]
    open_hours: list[OpenHours] = field(default_factory=list)

    @property
    def emails(self) -> list[str]:
        return list(dict.fromkeys(e for group in self.groups for e in group))

    def add_to_every_meeting(self, email: str) -> None:
        """The owner of a `calendars` entry attends every meeting (or the only one)."""
        if not self.groups:
            self.groups = [[]]
        for group in self.groups:
            if email not in group:
                group.append(email)


def parse_availability(body: dict[str, Any], *, consecutive: bool) -> AvailabilityRequest:
    raw = body.get("emails")
    if consecutive:
        if raw is not None and (
            not isinstance(raw, list) or not all(isinstance(g, list) and g for g in raw)
        ):
            raise InvalidInput("'emails' must be a list of non-empty lists of email addresses.")
        groups = [email_list("emails", group) for group in raw or []]
        if len(groups) > MAX_GROUPS:
            raise InvalidInput(f"Consecutive availability takes at most {MAX_GROUPS} meetings.")
        if body.get("round_robin") is not None:
            raise InvalidInput("'round_robin' is not available for consecutive availability.")
    else:
        groups = [email_list("emails", raw)]
    calendars = calendar_refs(body.get("calendars"))
    if not any(groups) and not calendars:
        raise InvalidInput("Must set either 'emails' or 'calendars' in the query.")
    start, end = time_range(body)
    duration = _minutes("duration_minutes", body.get("duration_minutes")) * 60
    interval = _minutes("interval_minutes", body.get("interval_minutes")) * 60
    buffer = _minutes("buffer", body.get("buffer"), default=0, low=0) * 60
    _check_work(groups, (end - start) // interval, consecutive)
    tentative = body.get("tentative_busy", True)
    if tentative is None:
        tentative = True
    if not isinstance(tentative, bool):
        raise InvalidInput("'tentative_busy' must be true or false.")
    round_robin = body.get("round_robin")
    if round_robin is not None and round_robin not in ROUND_ROBIN:
        raise InvalidInput("'round_robin' must be 'max-availability' or 'max-fairness'.")
    if round_robin == "max-fairness" or body.get("event_collection_id") is not None:
        # Fairness ranks people by the bookings an event collection recorded; the engine
        # keeps no event collections, so it cannot rank them.
        raise InvalidInput(
            "'max-fairness' round robin and 'event_collection_id' are not supported by this "
            "engine (it keeps no event collections); use 'max-availability'."
        )
    if len(list(itertools.chain(*groups))) > MAX_EMAILS:
        raise InvalidInput(f"At most {MAX_EMAILS} emails can be checked at once.")
    supplied = supplied_busy(body.get("free_busy"))
    request = AvailabilityRequest(
        groups=groups,
        start=start,
        end=end,
        duration=duration,
        interval=interval,
        buffer=buffer,
        tentative_busy=tentative,
        round_robin=round_robin,
        calendars=calendars,
        supplied=supplied,
    )
    request.open_hours = open_hours_list(
        body.get("open_hours"), set(request.emails) | set(supplied)
    )
    return request


def _check_work(groups: list[list[str]], slots: int, consecutive: bool) -> None:
    """Refuse a request whose answer would take too long or be too large: single
    availability checks each candidate slot for each email; consecutive availability tries
    every order of the meetings at each candidate start (and may answer each of them)."""
    if consecutive:
        work, limit = slots * math.factorial(max(1, len(groups))), MAX_CANDIDATES
    else:
        work, limit = slots * max(1, len(groups[0])), MAX_CHECKS
    if slots > MAX_CANDIDATES or work > limit:
        raise InvalidInput(
            f"Too many slots to check ({work}; at most {limit}): use a shorter range, a longer "
            "'interval_minutes', or fewer emails."
        )


# ---------------------------------------------------------------------------- computing


def merged(spans: Iterable[Span]) -> list[Span]:
    """Busy spans sorted, with overlapping ones joined (touching ones stay apart, as hosted
    listed them)."""
    out: list[Span] = []
    for start, end in sorted(spans):
        if out and start < out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def free_busy_json(email: str, busy: list[Span]) -> dict[str, Any]:
    return {
        "object": "free_busy",
        "email": email,
        "time_slots": [
            {"object": "time_slot", "status": "busy", "start_time": s, "end_time": e}
            for s, e in merged(busy)
        ],
    }


class Schedule:
    """Whether one email is free for a span: its busy spans (widened by the buffer) and its
    open hours."""

    def __init__(self, busy: list[Span], buffer: int, open_hours: list[OpenHours]):
        spans = merged((s - buffer, e + buffer) for s, e in busy)
        # Joined again after widening, so each start is after the previous end.
        self._starts = [s for s, _ in spans]
        self._ends = [e for _, e in spans]
        self._open = open_hours
        self._cache: dict[Span, bool] = {}

    def free(self, span: Span) -> bool:
        known = self._cache.get(span)
        if known is None:
            known = self._cache[span] = self._free(span)
        return known

    def _free(self, span: Span) -> bool:
        if self._open and not any(hours.contains(span) for hours in self._open):
            return False
        # The last busy span starting before the slot ends is the only one that can overlap.
        i = bisect.bisect_left(self._starts, span[1]) - 1
        return i < 0 or self._ends[i] <= span[0]

    def busy_seconds(self, start: int, end: int) -> int:
        return sum(
            max(0, min(e, end) - max(s, start))
            for s, e in zip(self._starts, self._ends, strict=True)
        )


def schedules(request: AvailabilityRequest, busy: dict[str, list[Span]]) -> dict[str, Schedule]:
    return {
        email: Schedule(
            busy.get(email, []) + request.supplied.get(email, []),
            request.buffer,
            [h for h in request.open_hours if email in h.emails],
        )
        for email in request.emails
    }


def candidates(request: AvailabilityRequest) -> list[int]:
    first = -(-request.start // request.interval) * request.interval
    return list(range(first, request.end - request.duration + 1, request.interval))


def availability(request: AvailabilityRequest, busy: dict[str, list[Span]]) -> dict[str, Any]:
    """Single availability: slots where every email is free or, with round robin
    (max-availability), slots where at least one is, naming those free and ordering the
    emails from the least busy to the most busy in the window."""
    people = schedules(request, busy)
    emails = request.groups[0]
    slots = []
    for start in candidates(request):
        span = (start, start + request.duration)
        free = [e for e in emails if people[e].free(span)]
        if free if request.round_robin else len(free) == len(emails):
            slots.append(_slot(span, free, status="free"))
    result: dict[str, Any] = {"object": "availability", "time_slots": slots}
    if request.round_robin:
        load = {e: people[e].busy_seconds(request.start, request.end) for e in emails}
        result["order"] = sorted(emails, key=lambda e: (load[e], emails.index(e)))
    return result


def consecutive(request: AvailabilityRequest, busy: dict[str, list[Span]]) -> list[list[Any]]:
    """Itineraries: the meetings back to back, each of `duration`, every member of each
    meeting free for it. Every order of the meetings is tried; the answer is sorted by start
    time (then by the order of `emails`)."""
    people = schedules(request, busy)
    groups = [g for g in request.groups if g]
    length = request.duration * len(groups)
    found = []
    for start in candidates(request):
        if start + length > request.end:
            break
        for order in itertools.permutations(range(len(groups))):
            chain = []
            for step, index in enumerate(order):
                span = (start + step * request.duration, start + (step + 1) * request.duration)
                if not all(people[e].free(span) for e in groups[index]):
                    break
                chain.append(_slot(span, groups[index]))
            else:
                found.append(chain)
    return found


def _slot(span: Span, emails: list[str], status: str | None = None) -> dict[str, Any]:
    if status is None:
        return {"emails": list(emails), "start_time": span[0], "end_time": span[1]}
    return {
        "object": "time_slot",
        "status": status,
        "start_time": span[0],
        "end_time": span[1],
        "emails": list(emails),
    }


__all__ = [
    "AvailabilityRequest",
    "availability",
    "consecutive",
    "free_busy_json",
    "parse_availability",
    "time_range",
]
