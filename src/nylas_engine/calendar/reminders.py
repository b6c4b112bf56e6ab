"""An event's `reminders` (hosted Nylas v2: `{"reminder_minutes": "[20]", "reminder_method":
"popup"}`, one reminder) and the iCalendar VALARM that carries it (RFC 5545 §3.6.6).

Reading takes the first alarm whose TRIGGER is a time before (or at) the start; others are
not shown. Writing changes that alarm's TRIGGER and ACTION in place (its other properties
stay), adds one when there is none, and removes the alarms when `reminders` is null.
An ACTION:DISPLAY alarm reads as `popup`; `display` is written as DISPLAY too.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

from icalendar import Alarm, vCalAddress
from icalendar.cal import Component

from nylas_engine.calendar.when import InvalidInput

METHODS = {"popup": "DISPLAY", "display": "DISPLAY", "sound": "AUDIO", "email": "EMAIL"}
_READ = {"DISPLAY": "popup", "AUDIO": "sound", "EMAIL": "email"}
MAX_MINUTES = 40320  # four weeks, as Google's limit
# "[N]" as hosted v2 writes it, N from 0 to MAX_MINUTES (the API's schema states the same).
MINUTES_PATTERN = r"^\[ *0*([0-9]{1,4}|[1-3][0-9]{4}|40[0-2][0-9]{2}|403[01][0-9]|40320) *\]$"
_MINUTES = re.compile(MINUTES_PATTERN)


def parse_reminders(raw: Any) -> dict[str, str] | None:
    """A client's `reminders` checked; what to store (null clears them)."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise InvalidInput("'reminders' must be an object with 'reminder_minutes'.")
    minutes = raw.get("reminder_minutes")
    if isinstance(minutes, str) and (match := _MINUTES.match(minutes)):
        minutes = int(match.group(1))
    elif isinstance(minutes, float) and minutes.is_integer():  # 20.0 is an integer in JSON
        minutes = int(minutes)
    if isinstance(minutes, bool) or not isinstance(minutes, int) or not 0 <= minutes <= MAX_MINUTES:
        raise InvalidInput(
            f"'reminders.reminder_minutes' must be \"[N]\", 0 <= N <= {MAX_MINUTES}."
        )
    method = raw.get("reminder_method")
    method = "popup" if method is None else method
    if not isinstance(method, str) or method not in METHODS:
        raise InvalidInput("'reminders.reminder_method' must be popup, display, sound or email.")
    return {"reminder_minutes": f"[{minutes}]", "reminder_method": method}


def minutes_of(reminders: dict[str, Any]) -> int:
    return json.loads(str(reminders["reminder_minutes"]))[0]  # type: ignore[no-any-return]


def read_alarms(vevent: Component) -> dict[str, str] | None:
    alarm = _first(vevent)
    if alarm is None:
        return None
    before = -alarm.decoded("TRIGGER")
    action = str(alarm.get("ACTION", "DISPLAY")).upper()
    return {
        "reminder_minutes": f"[{int(before.total_seconds() // 60)}]",
        "reminder_method": _READ.get(action, "popup"),
    }


def write_alarms(vevent: Component, reminders: dict[str, Any] | None, email: str) -> None:
    """Make the VEVENT's alarms say `reminders` (see the module docstring)."""
    if reminders is None:
        vevent.subcomponents = [c for c in vevent.subcomponents if c.name != "VALARM"]
        return
    alarm = _first(vevent)
    if alarm is None:
        alarm = Alarm()
        vevent.add_component(alarm)
    for name in ("TRIGGER", "ACTION"):
        alarm.pop(name, None)
    action = METHODS[reminders.get("reminder_method") or "popup"]
    alarm.add("action", action)
    alarm.add("trigger", timedelta(minutes=-minutes_of(reminders)))
    if action in ("DISPLAY", "EMAIL") and "DESCRIPTION" not in alarm:
        alarm.add("description", str(vevent.get("SUMMARY", "")) or "Reminder")
    if action == "EMAIL":
        alarm.setdefault("summary", str(vevent.get("SUMMARY", "")) or "Reminder")
        if "ATTENDEE" not in alarm:
            alarm.add("attendee", vCalAddress(f"mailto:{email}"))


def _first(vevent: Component) -> Component | None:
    """The first alarm set a duration before the start (not at a fixed time, not after)."""
    for alarm in vevent.subcomponents:
        if alarm.name != "VALARM" or "TRIGGER" not in alarm:
            continue
        related = str(alarm["TRIGGER"].params.get("RELATED", "START")).upper()
        try:
            value = alarm.decoded("TRIGGER")
        except (ValueError, TypeError):
            continue
        if related == "START" and isinstance(value, timedelta) and value <= timedelta(0):
            return alarm
    return None
