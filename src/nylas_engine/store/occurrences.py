"""One occurrence of a recurring series, changed or cancelled through the API, read by its
instance id; and the series itself changed (`drop_stray_overrides`).

Only a series on a calendar synced with a CalDAV server can have single occurrences changed
(docs/protocol.md §12): the change becomes an override row (`master_event_id`,
`original_start_time`), which dav/push.py writes into the series' calendar object as a
RECURRENCE-ID component, or as an EXDATE when the occurrence is cancelled. An expanded
instance (`<master id>_<YYYYMMDDTHHMMSSZ>`) has no row until it is first changed; the
override made then has an id of its own (an instance id is longer than the column).
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from nylas_engine.calendar.when import shifted, stored_when
from nylas_engine.ids import new_public_id
from nylas_engine.store.calendar import (
    Instance,
    find_event,
    is_occurrence,
    occurrence_of,
    update_event,
)
from nylas_engine.store.dav import collection_of_calendar, live_overrides
from nylas_engine.store.models import Account, Event, now


def is_synced_series(session: Session, event: Event) -> bool:
    """Whether `event` is a series, or an occurrence of one, on a CalDAV-synced calendar."""
    if event.message_id is not None:
        return False
    if event.master_event_id is None and event.recurrence is None:
        return False
    calendar_id = event.calendar.id if event.calendar is not None else event.calendar_id
    return collection_of_calendar(session, calendar_id) is not None  # (a new row: no FK yet)


def split_instance_id(instance_id: str) -> tuple[str, int] | None:
    """(master public id, original start) of an expanded instance's id, else None."""
    master_id, _, suffix = instance_id.rpartition("_")
    try:
        start = datetime.strptime(suffix, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        return None
    return (master_id, int(start.timestamp())) if master_id else None


def series_of_instance(session: Session, account: Account, instance_id: str) -> Event | None:
    """The recurring master an instance id names, if it has that occurrence."""
    parts = split_instance_id(instance_id)
    if parts is None:
        return None
    master = find_event(session, account, parts[0])
    if master is None or master.recurrence is None or master.master_event_id is not None:
        return None
    return master if is_occurrence(master, parts[1]) else None


def stored_override(session: Session, master: Event, original_start: int) -> Event | None:
    """The override row of the occurrence of `master` that began at `original_start`."""
    found: Event | None = session.scalar(
        select(Event).where(
            Event.master_event_id == master.id,
            Event.original_start_time == original_start,
            Event.deleted_at.is_(None),
        )
    )
    return found


def instance(session: Session, account: Account, instance_id: str) -> Event | Instance | None:
    """An instance id's occurrence as `expand_recurring` shows it: its override if it has
    one, else the master's fields at that time; None if the series has no such occurrence
    (or it was cancelled)."""
    master = series_of_instance(session, account, instance_id)
    parts = split_instance_id(instance_id)
    if master is None or parts is None:
        return None
    found = stored_override(session, master, parts[1])
    if found is not None:
        return None if found.status == "cancelled" else found
    return Instance(
        master,
        shifted(stored_when(master.when), datetime.fromtimestamp(parts[1], tz=timezone.utc)),
        parts[1],
    )


def drop_stray_overrides(session: Session, master: Event) -> None:
    """After the series itself changed (its times or rule): the changed occurrences that
    are no longer occurrences of it are dropped, as calendar programs do."""
    for override in live_overrides(session, master.id):
        start = override.original_start_time
        if start is None or not is_occurrence(master, start):
            override.deleted_at = now()


def override_of(session: Session, master: Event, original_start: int) -> Event:
    """The override of the occurrence of `master` that began at `original_start`: the stored
    one, or a new one (added to the session) showing the occurrence as the series has it."""
    found = stored_override(session, master, original_start)
    if found is not None:
        return found
    override = Event(
        account_id=master.account_id,
        public_id=new_public_id(),  # the reply names it before anything is flushed
        calendar=master.calendar,
        ical_uid=master.ical_uid,
        master_event_id=master.id,
        original_start_time=original_start,
        status="confirmed",
        sequence=master.sequence or 0,
        metadata_={},
    )
    update_event(override, occurrence_of(master, original_start))
    session.add(override)
    return override
