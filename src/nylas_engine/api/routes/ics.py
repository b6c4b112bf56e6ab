"""`POST /events/to-ics` (hosted v2): `{"event_id"}` for a stored event, or an event's fields
as `POST /events` takes them (what the Node SDK 6 `event.generateICS()` sends), plus
`ics_options` → `{"ics": str}`. Nothing is stored."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from nylas_engine.api.deps import AccountScope, account_scope, json_object
from nylas_engine.api.errors import bad_request, not_found
from nylas_engine.api.openapi import doc
from nylas_engine.api.params import check_id
from nylas_engine.api.routing import SessionRoute
from nylas_engine.api.schemas import calendar as shape
from nylas_engine.calendar.fields import event_changes
from nylas_engine.calendar.recurrence import parse_recurrence
from nylas_engine.calendar.to_ics import event_ics, parse_options
from nylas_engine.calendar.when import InvalidInput
from nylas_engine.ids import new_public_id
from nylas_engine.store import calendar as store

router = APIRouter(route_class=SessionRoute)


@router.post("/events/to-ics", **doc(reply=dict[str, Any], body=shape.EventCreate))
def to_ics(
    body: dict[str, Any] = Depends(json_object), scope: AccountScope = Depends(account_scope)
) -> Any:
    account = scope.account
    organizer = (account.name or "", account.email_address)
    event_id = body.get("event_id")
    try:
        options = parse_options(body.get("ics_options"))
        if event_id is not None:
            if not isinstance(event_id, str):
                raise InvalidInput("'event_id' must be an event id.")
            event = store.find_event(scope.session, account, check_id(event_id))
            if event is None:
                raise not_found(f"Couldn't find event id {event_id}")
            uid = store.master_uid(scope.session, event) or event.ical_uid
            ics = event_ics(
                options=options,
                uid=uid or f"{event.public_id}@nylas-engine",
                sequence=event.sequence or 0,
                when=event.when,
                recurrence=event.recurrence if event.master_event_id is None else None,
                title=event.title,
                description=event.description,
                location=event.location,
                busy=event.busy,
                status=event.status,
                organizer=organizer,
                participants=event.participants or [],
                recurrence_id=event.original_start_time,
            )
        else:
            changes = event_changes(body, creating=True)
            raw = body.get("recurrence")
            recurrence = parse_recurrence(raw, changes["when"]) if raw is not None else None
            ics = event_ics(
                options=options,
                uid=f"{new_public_id()}@nylas-engine",
                sequence=0,
                when=changes["when"].data,
                recurrence=recurrence,
                title=changes.get("title", ""),
                description=changes.get("description"),
                location=changes.get("location"),
                busy=changes.get("busy", True),
                status="confirmed",
                organizer=organizer,
                participants=changes.get("participants", []),
            )
    except InvalidInput as exc:
        raise bad_request(str(exc)) from exc
    return {"ics": ics}
