"""Events and RSVP (docs/protocol.md §12, §18 item 12).

Lists filter in SQL; with `expand_recurring=true` recurring masters become their instances
(ids `<master>_<YYYYMMDDTHHMMSSZ>`), so that list is built, counted and paged in Python.
With `notify_participants=true` (any-case boolean; default false) a write emails iCalendar
invitations from the account through its SMTP server (see `_notify`), or leaves them to
a CalDAV server that schedules (RFC 6638). DELETE cancels: the
event stays readable by id with `status: "cancelled"`, and leaves the lists unless
`show_cancelled=true`.
"""

from __future__ import annotations

from email.utils import parseaddr
from io import BytesIO
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.orm import Session

from nylas_engine.api.deps import (
    AccountScope,
    account_scope,
    credential,
    db_session,
    get_ctx,
    json_object,
    released,
    write_scope,
)
from nylas_engine.api.errors import bad_request, from_domain, not_found, unauthorized
from nylas_engine.api.openapi import doc, paged
from nylas_engine.api.params import check_id
from nylas_engine.api.query import EventQuery, NotifyQuery
from nylas_engine.api.routing import SessionRoute
from nylas_engine.api.schemas import calendar as shape
from nylas_engine.api.views.calendar import event_json, instance_json
from nylas_engine.calendar import ical
from nylas_engine.calendar.fields import event_changes
from nylas_engine.calendar.recurrence import parse_recurrence
from nylas_engine.calendar.when import InvalidInput, stored_when
from nylas_engine.context import EngineContext
from nylas_engine.send import outbox, smtp
from nylas_engine.send.errors import SendError
from nylas_engine.store import calendar as store
from nylas_engine.store import occurrences, paging
from nylas_engine.store.accounts import live_accounts, owner_of_event
from nylas_engine.store.dav import server_schedules
from nylas_engine.store.models import Event, Message

router = APIRouter(route_class=SessionRoute)
WRITE = doc(402, 409, 429, reply=shape.Event, body=shape.EventInput)
CREATE = doc(402, 409, 429, reply=shape.Event, body=shape.EventCreate)


def _event(scope: AccountScope, event_id: str) -> Event:
    event = store.find_event(scope.session, scope.account, check_id(event_id))
    if event is None:
        raise not_found(f"Couldn't find event id {event_id}")
    return event


def _writable(scope: AccountScope, event_id: str, refusal: str) -> Event:
    """The event to change: by id, or for an expanded instance of a CalDAV-synced series
    its override (made on first use; `refusal` for a series the engine keeps itself)."""
    parts = occurrences.split_instance_id(event_id)
    if parts is None:  # not an instance's id: checked and found as any event id
        return _event(scope, event_id)
    check_id(parts[0])
    master = occurrences.series_of_instance(scope.session, scope.account, event_id)
    if master is None:
        raise not_found(f"Couldn't find event id {event_id}")
    if not occurrences.is_synced_series(scope.session, master):
        raise bad_request(refusal)
    return occurrences.override_of(scope.session, master, parts[1])


def _json(scope: AccountScope, event: Event) -> dict[str, Any]:
    return event_json(event, scope.account, store.refs(scope.session, [event]))


def _filters(params: EventQuery) -> store.EventFilter:
    return store.EventFilter(
        event_id=params.event_id,
        calendar_id=params.calendar_id,
        title=params.title,
        description=params.description,
        location=params.location,
        busy=params.busy,
        starts_before=params.starts_before,
        starts_after=params.starts_after,
        ends_before=params.ends_before,
        ends_after=params.ends_after,
        show_cancelled=bool(params.show_cancelled),
        metadata=params.metadata(),
    )


@router.get("/events", **doc(reply=paged(shape.Event)))
@router.get("/events/", include_in_schema=False)
def list_events(
    params: Annotated[EventQuery, Query()], scope: AccountScope = Depends(account_scope)
) -> Any:
    filters = _filters(params)
    view, page = params.view, params.page()
    if params.expand_recurring:
        if view == "count":
            return {"count": len(store.expanded_events(scope.session, scope.account, filters))}
        upto = page.offset + page.limit
        rows = store.expanded_events(scope.session, scope.account, filters, upto=upto)
        rows = rows[page.offset : upto]
    else:
        stmt = store.events(scope.account, filters)
        if view == "count":
            return {"count": paging.count(scope.session, stmt)}
        rows = paging.page(scope.session, stmt, page.limit, page.offset)
    if view == "ids":
        return [row.public_id for row in rows]
    refs = store.refs(scope.session, rows)
    return [
        event_json(row, scope.account, refs)
        if isinstance(row, Event)
        else instance_json(row, scope.account)
        for row in rows
    ]


@router.get("/events/{event_id}", **doc(reply=shape.Event))
def get_event(event_id: str, scope: AccountScope = Depends(account_scope)) -> Any:
    parts = occurrences.split_instance_id(event_id)
    if parts is None:
        return _json(scope, _event(scope, event_id))
    check_id(parts[0])
    found = occurrences.instance(scope.session, scope.account, event_id)
    if found is None:
        raise not_found(f"Couldn't find event id {event_id}")
    if isinstance(found, Event):
        return _json(scope, found)
    return instance_json(found, scope.account)


@router.post("/events", **CREATE)
@router.post("/events/", include_in_schema=False)
def create_event(
    params: Annotated[NotifyQuery, Query()],
    body: dict[str, Any] = Depends(json_object),
    scope: AccountScope = Depends(write_scope),
) -> Any:
    notify = bool(params.notify_participants)
    calendar_id = body.get("calendar_id")
    if not isinstance(calendar_id, str):
        raise bad_request("Invalid id: None")
    calendar = store.find_calendar(scope.session, scope.account, check_id(calendar_id))
    if calendar is None:
        raise not_found(f"Calendar {calendar_id} not found")
    if calendar.read_only:
        raise bad_request("Can't create events on read_only calendar.")
    try:
        changes = event_changes(body, creating=True)
        recurrence = (
            parse_recurrence(body["recurrence"], changes["when"])
            if body.get("recurrence") is not None
            else None
        )
    except InvalidInput as exc:
        raise bad_request(str(exc)) from exc
    event = store.new_event(scope.account, calendar, changes, recurrence)
    if notify:
        _notify(scope, event, "new", event.participants or [])
    store.add_event(scope.session, event)
    return _json(scope, event)


@router.put("/events/{event_id}", **WRITE)
@router.patch("/events/{event_id}", **WRITE)
def update_event(
    event_id: str,
    params: Annotated[NotifyQuery, Query()],
    body: dict[str, Any] = Depends(json_object),
    scope: AccountScope = Depends(write_scope),
) -> Any:
    notify = bool(params.notify_participants)
    event = _writable(scope, event_id, "Cannot update a recurring event yet.")
    if event.read_only or event.calendar.read_only:
        raise bad_request("Cannot update read_only event.")
    # A synced series (or one occurrence of it) can change; the engine's own can't yet.
    synced = occurrences.is_synced_series(scope.session, event)
    try:
        changes = event_changes(body, creating=False)
        if synced and event.recurrence is not None and body.get("recurrence") is not None:
            when = changes.get("when") or stored_when(event.when)
            changes["recurrence"] = parse_recurrence(body["recurrence"], when)
    except InvalidInput as exc:
        raise bad_request(str(exc)) from exc
    # Metadata is the app's own: it may be set where the event itself can't change.
    if set(changes) - {"metadata_"}:
        if (event.recurrence is not None or event.master_event_id is not None) and not synced:
            raise bad_request("Cannot update a recurring event yet.")
        if event.message_id is not None:
            raise bad_request("Cannot update an event imported from an iCalendar invite.")
    before = _snapshot(event)
    with scope.session.no_autoflush:  # nothing is written before the invitations are sent
        store.update_event(event, changes)
        if event.recurrence is not None and ("when" in changes or "recurrence" in changes):
            occurrences.drop_stray_overrides(scope.session, event)
        if _snapshot(event) != before:
            event.sequence = (event.sequence or 0) + 1
            if notify:
                kept = {_address_key(p) for p in event.participants or []}
                removed = [p for p in before[-1] if _address_key(p) not in kept]
                _notify(scope, event, "update", event.participants or [], removed)
    return _json(scope, event)


@router.delete("/events/{event_id}", **doc(402, 409, 429))
def delete_event(
    event_id: str,
    params: Annotated[NotifyQuery, Query()],
    scope: AccountScope = Depends(write_scope),
) -> Any:
    notify = bool(params.notify_participants)
    event = _writable(scope, event_id, "Cannot delete one occurrence of this series.")
    if event.read_only or event.calendar.read_only:
        raise bad_request("Cannot delete read_only event.")
    if event.message_id is not None:
        raise bad_request("Cannot delete an event imported from an iCalendar invite.")
    if event.status == "cancelled":
        return None  # already cancelled (and its participants told, if they were to be)
    with scope.session.no_autoflush:
        event.sequence = (event.sequence or 0) + 1
        if notify:
            _notify(scope, event, "cancel", [], event.participants or [])
        store.cancel_event(event)
    return None


# --------------------------------------------------------------------------- invitations


def _snapshot(event: Event) -> tuple[Any, ...]:
    """What the invitations state (participants last): a change raises SEQUENCE."""
    return (
        event.title,
        event.description,
        event.location,
        event.busy,
        dict(event.when or {}),
        dict(event.recurrence or {}),
        [dict(p) for p in event.participants or []],
    )


def _address_key(participant: dict[str, Any]) -> str:
    return str(participant.get("email", "")).lower()


def _notify(
    scope: AccountScope,
    event: Event,
    kind: str,
    invited: list[dict[str, Any]],
    removed: list[dict[str, Any]] | None = None,
) -> None:
    """Email `invited` a REQUEST (`kind` "new" or "update") for the event as it now is, and
    `removed` a CANCEL; the account itself is never emailed. Called before the change is
    written; the request's transaction is ended (nothing written yet) while SMTP talks.

    Why send first: a delivery that fails leaves nothing behind. The handler raises the
    SMTP error (§2.3: 402, 403, 429, 503...), the session rolls back, and the event is as
    it was, so the client sees one outcome: "not done". Retrying is then safe whether or
    not the Idempotency-Key middleware replays the reply (it replays only final replies
    < 500 and != 429): a replayed 402 changes nothing, and a re-run 503/429 finds no event
    and no invitation from the failed attempt, so nothing is created or sent twice. Saving
    first would leave, after a 503 on POST, an event the client does not know about, and a
    retry would create a second one. Once the REQUEST has gone out the change is committed
    even if the CANCEL to removed participants fails (those who were told of the change
    must find it); that reply is the SMTP error with a message saying the event was saved.
    Recipients refused one by one while others accepted the message do not fail the call.

    An event on a CalDAV server that schedules (RFC 6638 `calendar-auto-schedule`) is not
    emailed: the server sends the invitations itself when the event (with its ORGANIZER and
    ATTENDEEs) is written there, or deleted.
    """
    calendar_id = event.calendar.id if event.calendar is not None else event.calendar_id
    if server_schedules(scope.session, calendar_id):
        return
    me = scope.account.email_address.lower()
    to_invite = [p for p in invited if _address_key(p) != me]
    to_cancel = [p for p in removed or [] if _address_key(p) != me]
    if not to_invite and not to_cancel:
        return
    server = outbox.server_for(scope.ctx, scope.account)
    sender = scope.account.email_address
    messages = [
        ([p["email"] for p in recipients], _invitation(scope, event, message_kind, recipients))
        for recipients, message_kind in ((to_invite, kind), (to_cancel, "cancel"))
        if recipients
    ]
    sent_any = False
    failure: SendError | None = None
    with released(scope.session, event):  # no transaction open while SMTP talks
        for addresses, message in messages:
            try:
                smtp.deliver(server, sender, addresses, BytesIO(message.as_bytes()))
            except SendError as exc:
                failure = exc
                break
            sent_any = True
    if failure is not None:
        error = from_domain(failure)
        if sent_any:
            scope.session.commit()
            error.message = (
                "The event was saved and its invitations sent, but the cancellations "
                f"to removed participants were not: {error.message}"
            )
        raise error from failure


def _invitation(
    scope: AccountScope, event: Event, kind: str, recipients: list[dict[str, Any]]
) -> Any:
    account = scope.account
    organizer = (account.name or "", account.email_address)
    uid = store.master_uid(scope.session, event) or event.ical_uid
    ics = ical.invitation_calendar(
        method="CANCEL" if kind == "cancel" else "REQUEST",
        uid=uid or f"{event.public_id}@nylas-engine",
        sequence=event.sequence or 0,
        when=event.when,
        recurrence=event.recurrence if event.master_event_id is None else None,
        title=event.title,
        description=event.description,
        location=event.location,
        busy=event.busy,
        organizer=organizer,
        attendees=(event.participants or []) if kind != "cancel" else recipients,
        recurrence_id=event.original_start_time if event.master_event_id is not None else None,
    )
    return ical.invitation_message(
        organizer=organizer,
        recipients=recipients,
        kind=kind,
        title=event.title,
        when=event.when,
        location=event.location,
        ics=ics,
    )


# ---------------------------------------------------------------------------------- RSVP


def rsvp_scope(
    request: Request,
    body: dict[str, Any] = Depends(json_object),
    ctx: EngineContext = Depends(get_ctx),
    session: Session = db_session,
) -> AccountScope:
    """SDK 5 posts RSVPs without credentials (docs/protocol.md §18.12). An open engine takes such a
    request as its one account's, or as the account whose event it answers (in open mode
    every account id is public on GET /accounts, so that reveals nothing; the demo has two
    accounts); otherwise credentials are required as everywhere (a token-mode engine never
    answers without a token)."""
    if credential(request) is None and ctx.settings.auth_mode == "open":
        accounts = list(session.scalars(live_accounts().limit(2)))
        event_id = body.get("event_id")
        if len(accounts) != 1 and isinstance(event_id, str):
            accounts = [a for a in [owner_of_event(session, event_id)] if a is not None]
        if len(accounts) != 1:
            raise unauthorized()
        scope = AccountScope(ctx, session, accounts[0], accounts[0].public_id)
    else:
        scope = account_scope(request, ctx, session)
    return write_scope(scope)


@router.post("/send-rsvp", **doc(402, 409, 429, reply=shape.Event, body=shape.RsvpInput))
def send_rsvp(
    body: dict[str, Any] = Depends(json_object), scope: AccountScope = Depends(rsvp_scope)
) -> Any:
    """Answer an emailed invitation: email an iCalendar REPLY to the organizer through the
    account's SMTP server, then record the answer on the account's participant entry. The
    same answer twice sends nothing the second time."""
    event_id = body.get("event_id")
    if not isinstance(event_id, str):
        raise bad_request("Invalid id: None")
    event = _event(scope, event_id)
    if event.message_id is None:
        raise bad_request("This is not a message imported from an iCalendar invite.")
    status = body.get("status")
    if status not in ical.PARTSTAT:
        raise bad_request(f"Invalid status {status!r}: expected yes, no or maybe.")
    comment = body.get("comment")
    if comment is not None and not isinstance(comment, str):
        raise bad_request("'comment' must be a string.")
    comment = comment or None
    me = scope.account.email_address.lower()
    mine = [p for p in event.participants or [] if str(p.get("email", "")).lower() == me]
    if not mine:
        raise bad_request(f"{scope.account.email_address} is not a participant of this event.")
    if mine[0].get("status") == status and (mine[0].get("comment") or None) == comment:
        return _json(scope, event)
    _email_reply(scope, event, mine[0], status, comment)
    store.set_rsvp(event, me, status, comment)
    return _json(scope, event)


def _organizer(scope: AccountScope, event: Event) -> tuple[str, str]:
    name, address = parseaddr(event.owner or "")
    if "@" not in address and event.message_id is not None:
        invite = scope.session.get(Message, event.message_id)
        sender = (invite.from_ or [{}])[0] if invite is not None else {}
        name, address = sender.get("name") or "", sender.get("email") or ""
    if "@" not in address:
        raise bad_request("The invitation names no organizer to reply to.")
    return name, address


def _email_reply(
    scope: AccountScope,
    event: Event,
    participant: dict[str, Any],
    status: str,
    comment: str | None,
) -> None:
    account = scope.account
    organizer = _organizer(scope, event)
    me = (participant.get("name") or account.name or "", account.email_address)
    ics = ical.reply_calendar(
        uid=event.ical_uid or f"{event.public_id}@nylas-engine",
        when=event.when,
        title=event.title,
        organizer=organizer,
        attendee=me,
        status=status,
        comment=comment,
        sequence=event.sequence or 0,  # RFC 5546: the REPLY names the version it answers
        recurrence_id=event.original_start_time,  # an answer for one occurrence of a series
    )
    message = ical.rsvp_reply_message(
        sender=me, organizer=organizer, title=event.title, status=status, comment=comment, ics=ics
    )
    server = outbox.server_for(scope.ctx, account)
    sender = account.email_address
    with released(scope.session, event):  # no transaction open while SMTP talks
        # A SendError answers with its own status (api/errors.py).
        smtp.deliver(server, sender, [organizer[1]], BytesIO(message.as_bytes()))
