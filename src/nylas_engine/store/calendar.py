"""Calendar and event queries (docs/protocol.md §12). Every query is filtered on the account.

Events keep the client's `when` as JSON plus `start_ts`/`end_ts`, which the filters and the
start-time order use. A recurring master carries `recurrence`; an override or exception of one
instance points at its master (`master_event_id`) and the instance it replaces
(`original_start_time`). `expanded_events` turns masters into their instances in Python.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Select, Text, cast, func, null, or_, select
from sqlalchemy.orm import Session, object_session

from nylas_engine.calendar.invites import Invite
from nylas_engine.calendar.recurrence import instance_suffix, occurrences
from nylas_engine.calendar.when import When, shifted, stored_when
from nylas_engine.ids import new_public_id
from nylas_engine.metadata import MetadataFilter
from nylas_engine.store import metadata as meta
from nylas_engine.store.models import Account, Calendar, Event, Message, now

# Expansion without an end bound covers about a year ahead (docs/protocol.md §12), and never more
# than ten years past its start, whatever the bounds say.
DEFAULT_HORIZON = 365 * 86400
MAX_HORIZON = 3653 * 86400
# What datetime can hold (years 1 to 9999), in Unix seconds.
_EARLIEST, _LATEST = -62135596800, 253402300799

# ---------------------------------------------------------------------------------- calendars


def calendars(account: Account, metadata: MetadataFilter | None = None) -> Select[Any]:
    return (
        select(Calendar)
        .where(
            Calendar.account_id == account.id,
            Calendar.deleted_at.is_(None),
            *meta.calendar_conditions(account, metadata),
        )
        .order_by(Calendar.id)
    )


def find_calendar(session: Session, account: Account, public_id: str) -> Calendar | None:
    found: Calendar | None = session.scalar(
        calendars(account).where(Calendar.public_id == public_id)
    )
    return found


def create_calendar(session: Session, account: Account, fields: dict[str, Any]) -> Calendar:
    calendar = Calendar(account_id=account.id, **fields)
    session.add(calendar)
    session.flush()
    return calendar


def update_calendar(calendar: Calendar, fields: dict[str, Any]) -> None:
    for name, value in fields.items():
        setattr(calendar, name, value)


def delete_calendar(session: Session, calendar: Calendar) -> None:
    """Soft-delete the calendar and its events (each logged as a delete for delta)."""
    stamp = now()
    calendar.deleted_at = stamp
    for event in session.scalars(
        select(Event).where(Event.calendar_id == calendar.id, Event.deleted_at.is_(None))
    ):
        event.deleted_at = stamp


# ---------------------------------------------------------------------------------- events


@dataclass
class EventFilter:
    event_id: str | None = None
    calendar_id: str | None = None
    title: str | None = None
    description: str | None = None
    location: str | None = None
    busy: bool | None = None
    starts_before: int | None = None
    starts_after: int | None = None
    ends_before: int | None = None
    ends_after: int | None = None
    show_cancelled: bool = False
    metadata: MetadataFilter | None = None

    def matches_times(self, start: int, end: int) -> bool:
        return (
            (self.starts_before is None or start < self.starts_before)
            and (self.starts_after is None or start > self.starts_after)
            and (self.ends_before is None or end < self.ends_before)
            and (self.ends_after is None or end > self.ends_after)
        )


@dataclass
class Instance:
    """One occurrence of a recurring master, made up on the fly (never stored)."""

    master: Event
    when: When
    original_start: int
    id: str = field(init=False)

    def __post_init__(self) -> None:
        start = datetime.fromtimestamp(self.original_start, tz=timezone.utc)
        self.id = f"{self.master.public_id}_{instance_suffix(start)}"

    @property
    def start_ts(self) -> int:
        return self.when.start_ts

    @property
    def end_ts(self) -> int:
        return self.when.end_ts

    @property
    def public_id(self) -> str:
        return self.id


# A JSON column holds SQL NULL or, when None was assigned, the JSON text `null`: both mean
# "not a recurring master".
_NOT_RECURRING = func.coalesce(cast(Event.recurrence, Text), "null") == "null"


def _live_events(account: Account) -> Select[Any]:
    return (
        select(Event)
        .join(Calendar, Event.calendar_id == Calendar.id)
        .where(
            Event.account_id == account.id,
            Event.deleted_at.is_(None),
            Calendar.deleted_at.is_(None),
        )
    )


def find_event(session: Session, account: Account, public_id: str) -> Event | None:
    found: Event | None = session.scalar(_live_events(account).where(Event.public_id == public_id))
    return found


def _filtered(stmt: Select[Any], f: EventFilter, account: Account) -> Select[Any]:
    if f.event_id is not None:
        stmt = stmt.where(Event.public_id == f.event_id)
    if f.calendar_id is not None:
        stmt = stmt.where(Calendar.public_id == f.calendar_id)
    for column, value in (
        (Event.title, f.title),
        (Event.description, f.description),
        (Event.location, f.location),
    ):
        if value is not None:
            stmt = stmt.where(column.icontains(value, autoescape=True))
    if f.busy is not None:
        stmt = stmt.where(Event.busy.is_(f.busy))
    return stmt.where(*meta.event_conditions(account, f.metadata))


def _timed(stmt: Select[Any], f: EventFilter) -> Select[Any]:
    if f.starts_before is not None:
        stmt = stmt.where(Event.start_ts < f.starts_before)
    if f.starts_after is not None:
        stmt = stmt.where(Event.start_ts > f.starts_after)
    if f.ends_before is not None:
        stmt = stmt.where(Event.end_ts < f.ends_before)
    if f.ends_after is not None:
        stmt = stmt.where(Event.end_ts > f.ends_after)
    return stmt


def _ordered(stmt: Select[Any]) -> Select[Any]:
    return stmt.order_by(Event.start_ts, Event.id)


def events(account: Account, f: EventFilter) -> Select[Any]:
    """Stored events matching `f`, by start time. Masters appear once, with their recurrence;
    cancelled overrides stay visible so that clients can expand series themselves."""
    stmt = _timed(_filtered(_live_events(account), f, account), f)
    if not f.show_cancelled:
        stmt = stmt.where(or_(Event.status != "cancelled", Event.master_event_id.is_not(None)))
    return _ordered(stmt)


def _first_by_start(session: Session, stmt: Select[Any], upto: int | None) -> list[Event]:
    """The rows of `stmt`; with `upto`, only its first `upto` by start time and any others
    starting at the same time as the last of those (so that sorting by (start, public id)
    afterwards puts the same rows first as sorting all of them would)."""
    if upto is None:
        return list(session.scalars(stmt))
    first = list(session.scalars(stmt.order_by(Event.start_ts, Event.id).limit(upto)))
    if len(first) < upto:
        return first
    boundary = first[-1].start_ts
    seen = {e.id for e in first}
    ties = session.scalars(stmt.where(Event.start_ts == boundary))
    return first + [e for e in ties if e.id not in seen]


def expanded_events(
    session: Session,
    account: Account,
    f: EventFilter,
    at: int | None = None,
    *,
    upto: int | None = None,
) -> list[Event | Instance]:
    """Single events, overrides, and every master's instances inside the window, by start.
    With `upto` (a page's offset + limit), the list is right for its first `upto` items
    only: single events and overrides are read from the database that far, not all."""
    base = _filtered(_live_events(account), f, account)
    if not f.show_cancelled:
        base = base.where(Event.status != "cancelled")
    single = _timed(base, f).where(_NOT_RECURRING, Event.master_event_id.is_(None))
    overrides = _timed(base, f).where(Event.master_event_id.is_not(None))
    results: list[Event | Instance] = list(_first_by_start(session, single, upto))
    results += _first_by_start(session, overrides, upto)
    masters = list(session.scalars(base.where(~_NOT_RECURRING, Event.master_event_id.is_(None))))
    if masters:
        replaced = set(
            session.execute(
                select(Event.master_event_id, Event.original_start_time).where(
                    Event.account_id == account.id,
                    Event.master_event_id.in_([m.id for m in masters]),
                    Event.deleted_at.is_(None),
                )
            ).tuples()
        )
        for master in masters:
            results += _instances(master, f, replaced, int(time.time()) if at is None else at)
    results.sort(key=lambda e: (e.start_ts, e.public_id))
    return results


def _instances(
    master: Event, f: EventFilter, replaced: set[tuple[Any, Any]], at: int
) -> list[Instance]:
    try:
        when = stored_when(master.when)
        length = when.end_ts - when.start_ts
        # An instance that ends after `ends_after` starts after `ends_after - length`.
        lowers = [f.starts_after, None if f.ends_after is None else f.ends_after - length]
        lower = max((v for v in lowers if v is not None), default=None)
        uppers = [v for v in (f.starts_before, f.ends_before) if v is not None]
        first = lower if lower is not None else when.start_ts
        upper = min(uppers) if uppers else max(at, lower or 0) + DEFAULT_HORIZON
        upper = min(upper, max(first, at) + MAX_HORIZON)
        found = []
        for start in occurrences(master.recurrence or {}, when, _utc(upper), after=_utc(first)):
            original = int(start.timestamp())
            if (master.id, original) in replaced:
                continue
            instance_when = shifted(when, start)
            if f.matches_times(instance_when.start_ts, instance_when.end_ts):
                found.append(Instance(master, instance_when, original))
    except (ValueError, TypeError, OverflowError, KeyError):
        return []  # a bad rule stored by an import, or a series running past the year 9999
    return found


def _utc(ts: int) -> datetime:
    return datetime.fromtimestamp(min(max(ts, _EARLIEST), _LATEST), tz=timezone.utc)


@dataclass
class Refs:
    """Public ids of the messages and masters that events point at (by internal id)."""

    messages: dict[int, str] = field(default_factory=dict)
    masters: dict[int, str] = field(default_factory=dict)


def refs(session: Session, rows: list[Any]) -> Refs:
    found = Refs()
    stored = [e for e in rows if isinstance(e, Event)]
    if message_ids := {e.message_id for e in stored if e.message_id is not None}:
        pairs = session.execute(
            select(Message.id, Message.public_id).where(Message.id.in_(message_ids))
        ).tuples()
        found.messages = {i: p for i, p in pairs}
    found.masters = master_ids(stored, session)
    return found


def master_ids(events: list[Event], session: Session | None = None) -> dict[int, str]:
    """{internal id: public id} of the recurring masters these overrides point at."""
    wanted = {e.master_event_id for e in events if e.master_event_id is not None}
    if not wanted:
        return {}
    session = session or object_session(events[0])
    if session is None:
        return {}
    pairs = session.execute(select(Event.id, Event.public_id).where(Event.id.in_(wanted))).tuples()
    return {i: p for i, p in pairs}


def new_event(
    account: Account,
    calendar: Calendar,
    changes: dict[str, Any],
    recurrence: dict[str, Any] | None = None,
) -> Event:
    """A new event owned by the account (`changes` from calendar.fields.event_changes), not
    yet in the session: its id and iCalendar UID are set, so invitations can name it before
    anything is written (`add_event` stores it)."""
    owner = f"{account.name} <{account.email_address}>" if account.name else account.email_address
    public_id = new_public_id()
    event = Event(
        account_id=account.id,
        calendar_id=calendar.id,
        public_id=public_id,
        ical_uid=f"{public_id}@nylas-engine",
        owner=owner,
        status="confirmed",
        sequence=0,
    )
    if recurrence is not None:  # left unset otherwise: SQL NULL rather than JSON null
        event.recurrence = recurrence
    update_event(event, changes)
    return event


def add_event(session: Session, event: Event) -> Event:
    session.add(event)
    session.flush()
    return event


def create_event(
    session: Session,
    account: Account,
    calendar: Calendar,
    changes: dict[str, Any],
    recurrence: dict[str, Any] | None = None,
) -> Event:
    return add_event(session, new_event(account, calendar, changes, recurrence))


def master_uid(session: Session, event: Event) -> str | None:
    """The iCalendar UID of an override's recurring master."""
    if event.master_event_id is None:
        return None
    master = session.get(Event, event.master_event_id)
    return None if master is None else master.ical_uid or f"{master.public_id}@nylas-engine"


def update_event(event: Event, changes: dict[str, Any]) -> None:
    for name, value in changes.items():
        if name == "when":
            event.when, event.start_ts, event.end_ts = value.data, value.start_ts, value.end_ts
        else:
            setattr(event, name, value)


def cancel_event(event: Event) -> None:
    event.status = "cancelled"


def set_rsvp(event: Event, email: str, status: str, comment: str | None) -> None:
    """Record the account's answer on its own participant entry."""
    participants = []
    for participant in event.participants or []:
        if str(participant.get("email", "")).lower() == email.lower():
            participant = {**participant, "status": status, "comment": comment}
        participants.append(participant)
    event.participants = participants  # a new list, so the JSON column sees the change


# ---------------------------------------------------------------------------------- invitations

EMAILED_CALENDAR = "Emailed events"


def emailed_calendar(session: Session, account: Account) -> Calendar:
    """The read-only calendar that holds events from invitations received by email (as the
    open-source Nylas engine kept them), made on first use."""
    found: Calendar | None = session.scalar(
        select(Calendar)
        .where(
            Calendar.account_id == account.id,
            Calendar.name == EMAILED_CALENDAR,
            Calendar.read_only.is_(True),
            Calendar.deleted_at.is_(None),
        )
        .order_by(Calendar.id)
        .limit(1)
    )
    if found is None:
        found = Calendar(
            account_id=account.id,
            name=EMAILED_CALENDAR,
            description="Events from invitations received by email",
            read_only=True,
        )
        session.add(found)
        session.flush()
    return found


def file_invites(
    session: Session, account: Account, message_id: int, invites: list[Invite]
) -> None:
    """Bring the account's events up to date with the invitations a received message holds.

    A request (or a published event) creates a read-only event in the Emailed events calendar
    that points at the message (so `POST /send-rsvp` can answer it), or updates the one an
    earlier message of the same UID made, unless this one is older (lower SEQUENCE); a
    cancellation marks it cancelled. A reply to one of the account's own events records the
    attendee's answer on it. Invitations for the account's own events (its sent copies) are
    left alone. An invitation for one occurrence of a series (RECURRENCE-ID) is filed the same
    way as an override of that occurrence (`_file_occurrence`)."""
    for invite in invites:
        if invite.recurrence_id is not None:
            _file_occurrence(session, account, message_id, invite, invite.recurrence_id)
            continue
        same_uid = list(session.scalars(_series(account, invite.uid)))
        own = next((e for e in same_uid if e.message_id is None), None)
        if invite.method == "REPLY":
            if own is not None:
                _record_answers(own, invite.participants)
            continue
        if own is not None:
            continue
        emailed = next(iter(same_uid), None)
        if emailed is None:
            if invite.method == "CANCEL":
                continue  # nothing of ours to cancel
            emailed = _new_emailed_event(session, account, invite.uid)
        elif invite.sequence < (emailed.sequence or 0):
            continue  # an older version of the invitation than the one already filed
        changes = invite.changes()
        stopped_recurring = False
        if changes["recurrence"] is None:
            del changes["recurrence"]  # SQL NULL (never set), not a JSON null
            if emailed.recurrence is not None:
                emailed.recurrence = null()
                stopped_recurring = True
        update_event(emailed, changes)
        emailed.message_id = message_id
        session.flush()  # ingest runs without autoflush; the next invitation may look it up
        if stopped_recurring:  # no longer a series: its changed occurrences mean nothing
            for override in session.scalars(_overrides(account, invite.uid)):
                override.deleted_at = now()
        elif invite.status == "cancelled":  # the whole series: every changed occurrence too
            for override in session.scalars(_overrides(account, invite.uid)):
                cancel_event(override)
        elif changes.get("recurrence") is not None:
            _adopt_overrides(session, account, emailed)
    session.flush()


def _new_emailed_event(session: Session, account: Account, uid: str, **fields: Any) -> Event:
    """A read-only event in the "Emailed events" calendar, for the invitation's UID."""
    event = Event(
        account_id=account.id,
        calendar_id=emailed_calendar(session, account).id,
        ical_uid=uid,
        read_only=True,
        busy=True,
        **fields,
    )
    session.add(event)
    return event


def _series(account: Account, uid: str) -> Select[Any]:
    """The events of an iCalendar UID that are not one occurrence of it."""
    return select(Event).where(
        Event.account_id == account.id,
        Event.ical_uid == uid,
        Event.master_event_id.is_(None),
        Event.original_start_time.is_(None),
        Event.deleted_at.is_(None),
    )


def _overrides(account: Account, uid: str, original_start: int | None = None) -> Select[Any]:
    """The changed occurrences of series `uid` (of the one beginning at `original_start`),
    those that came before their series (no master yet) included."""
    stmt = select(Event).where(
        Event.account_id == account.id,
        Event.ical_uid == uid,
        Event.original_start_time.is_not(None),
        Event.deleted_at.is_(None),
    )
    if original_start is not None:
        stmt = stmt.where(Event.original_start_time == original_start)
    return stmt


def _file_occurrence(
    session: Session, account: Account, message_id: int, invite: Invite, original: int
) -> None:
    """The occurrence of series `invite.uid` that began at `original`, changed or cancelled.
    It becomes an override of the series (`master_event_id`, `original_start_time` = the
    RECURRENCE-ID instant), which the expansion shows instead of that occurrence (a cancelled
    one hides it). An override of a series not received yet is kept without a master, as a
    single event, and attached when the series arrives (`_adopt_overrides`). SEQUENCE decides
    between versions of the same occurrence, as it does for series."""
    master = next(iter(session.scalars(_series(account, invite.uid))), None)
    found = _overrides(account, invite.uid, original)
    if master is not None and master.message_id is None:  # one of the account's own series
        if invite.method == "REPLY":
            for answered in session.scalars(found):
                _record_answers(answered, invite.participants)
        return
    if invite.method == "REPLY":
        return
    if master is not None and master.recurrence is None:
        master = None  # no longer a series: the occurrence is kept as a single event
    override: Event | None = next(iter(session.scalars(found)), None)
    if override is not None and invite.sequence < (override.sequence or 0):
        return  # an older version of this occurrence than the one already filed
    cancel = invite.method == "CANCEL"
    changes = invite.changes()
    del changes["recurrence"]
    if override is None:
        override = _new_emailed_event(session, account, invite.uid, original_start_time=original)
        if master is None:  # what the invitation says is all there is to show
            cancel = False
        else:  # the occurrence as the series has it, then the invitation's changes
            _attach(override, master)
            update_event(override, occurrence_of(master, original))
    if cancel:  # a cancellation need not repeat the event: keep what the override shows
        changes = {"status": "cancelled", "sequence": invite.sequence}
    elif not invite.has_start and override.when:
        del changes["when"]  # no DTSTART: the occurrence keeps its time
    update_event(override, changes)
    override.message_id = message_id
    session.flush()


def occurrence_of(master: Event, original_start: int) -> dict[str, Any]:
    """The fields of the series' occurrence that began at `original_start`."""
    when = stored_when(master.when)
    start = datetime.fromtimestamp(original_start, tz=timezone.utc)
    return {
        "title": master.title,
        "description": master.description,
        "location": master.location,
        "participants": list(master.participants or []),
        "owner": master.owner,
        "busy": master.busy,
        "reminders": master.reminders,
        "when": shifted(when, start),
    }


def _attach(override: Event, master: Event) -> None:
    override.master_event_id = master.id
    override.calendar_id = master.calendar_id


def _adopt_overrides(session: Session, account: Account, master: Event) -> None:
    """After a series arrives or changes: attach the overrides of its occurrences that came
    before it, and cancel those of occurrences it no longer has (the organizer moved the
    series; calendar programs drop such exceptions too). An override that came before a
    series it matches no occurrence of stays a single event."""
    for override in session.scalars(_overrides(account, master.ical_uid or "")):
        if is_occurrence(master, override.original_start_time or 0):
            if override.master_event_id is None:
                _attach(override, master)
        elif override.master_event_id == master.id:
            cancel_event(override)


def is_occurrence(master: Event, start: int) -> bool:
    try:
        at = _utc(start)
        found = occurrences(master.recurrence or {}, stored_when(master.when), at, after=at)
        return next(found, None) is not None
    except (ValueError, TypeError, OverflowError, KeyError):
        return False


def _record_answers(event: Event, answers: list[dict[str, Any]]) -> None:
    """Set the status of each participant who answered (the others keep theirs)."""
    by_email = {a["email"]: a["status"] for a in answers if a.get("email")}
    if not by_email:
        return
    event.participants = [
        {**p, "status": by_email[p["email"]]} if p.get("email") in by_email else p
        for p in event.participants or []
    ]
