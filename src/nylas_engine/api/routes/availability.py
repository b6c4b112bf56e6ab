"""Hosted v2 free-busy and availability: `POST /calendars/free-busy`,
`POST /calendars/availability` and `POST /calendars/availability/consecutive`.

Busy times come from the engine's calendars (store/availability.py says whose a request may
see), the slots from calendar/availability.py. Every option is applied or refused (400).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from nylas_engine.api.deps import AccountScope, account_scope, json_object
from nylas_engine.api.errors import bad_request
from nylas_engine.api.openapi import doc
from nylas_engine.api.routing import SessionRoute
from nylas_engine.api.schemas import calendar as shape
from nylas_engine.calendar import availability as compute
from nylas_engine.calendar.when import InvalidInput
from nylas_engine.store import availability as store

router = APIRouter(route_class=SessionRoute)

Span = tuple[int, int]


def _busy_by_email(
    scope: AccountScope,
    emails: list[str],
    refs: list[compute.CalendarRef],
    start: int,
    end: int,
    tentative_busy: bool = True,
) -> tuple[dict[str, list[Span]], list[tuple[str, list[Span]]]]:
    """Busy spans per email (all calendars of each visible account), and per `calendars`
    entry (the account's email, busy spans of the named calendars only)."""
    app_id = store.token_app(scope.session, scope.token)
    accounts = store.visible_by_email(scope.session, scope.account, app_id, emails)
    by_email = {
        email: store.busy_spans(scope.session, account, start, end, tentative_busy=tentative_busy)
        for email, account in accounts.items()
    }
    by_calendars = []
    for ref in refs:
        owner = store.visible_by_id(scope.session, scope.account, app_id, ref.account_id)
        known = store.calendar_ids(scope.session, owner, ref.calendar_ids) if owner else set()
        missing = [c for c in ref.calendar_ids if c not in known]
        if owner is None or missing:
            # One message whether the account is unknown or another app's: nothing leaks.
            raise bad_request(
                f"Couldn't find calendars {', '.join(missing or ref.calendar_ids)} "
                f"of account {ref.account_id}."
            )
        spans = store.busy_spans(
            scope.session, owner, start, end, calendars=known, tentative_busy=tentative_busy
        )
        by_calendars.append((owner.email_address.lower(), spans))
    return by_email, by_calendars


@router.post("/calendars/free-busy", **doc(reply=list[dict[str, Any]], body=shape.FreeBusyInput))
def free_busy(
    body: dict[str, Any] = Depends(json_object), scope: AccountScope = Depends(account_scope)
) -> Any:
    """One `free_busy` object per email (and per `calendars` entry), listing busy slots."""
    try:
        start, end = compute.time_range(body)
        emails = compute.email_list("emails", body.get("emails"))
        refs = compute.calendar_refs(body.get("calendars"))
    except InvalidInput as exc:
        raise bad_request(str(exc)) from exc
    if not emails and not refs:
        raise bad_request("Must set either 'emails' or 'calendars' in the query.")
    if len(emails) > compute.MAX_EMAILS:
        raise bad_request(f"At most {compute.MAX_EMAILS} emails can be checked at once.")
    by_email, by_calendars = _busy_by_email(scope, emails, refs, start, end)
    answer = [compute.free_busy_json(email, by_email.get(email, [])) for email in emails]
    answer += [compute.free_busy_json(email, spans) for email, spans in by_calendars]
    return answer


def _request(body: dict[str, Any], consecutive: bool) -> compute.AvailabilityRequest:
    try:
        return compute.parse_availability(body, consecutive=consecutive)
    except InvalidInput as exc:
        raise bad_request(str(exc)) from exc


def _busy(scope: AccountScope, request: compute.AvailabilityRequest) -> dict[str, list[Span]]:
    """Busy spans per email of the request; a `calendars` entry adds its account's email
    to every meeting (hosted v2: calendars stand in for, or add to, emails)."""
    by_email, by_calendars = _busy_by_email(
        scope,
        request.emails,
        request.calendars,
        request.start - request.buffer,
        request.end + request.buffer,
        request.tentative_busy,
    )
    for email, spans in by_calendars:
        by_email.setdefault(email, []).extend(spans)
        request.add_to_every_meeting(email)
    return by_email


@router.post("/calendars/availability", **doc(reply=dict[str, Any], body=shape.AvailabilityInput))
def single_availability(
    body: dict[str, Any] = Depends(json_object), scope: AccountScope = Depends(account_scope)
) -> Any:
    request = _request(body, consecutive=False)
    return compute.availability(request, _busy(scope, request))


@router.post(
    "/calendars/availability/consecutive", **doc(reply=list[Any], body=shape.ConsecutiveInput)
)
def consecutive_availability(
    body: dict[str, Any] = Depends(json_object), scope: AccountScope = Depends(account_scope)
) -> Any:
    request = _request(body, consecutive=True)
    return compute.consecutive(request, _busy(scope, request))
