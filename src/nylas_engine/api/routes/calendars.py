"""Calendars (docs/protocol.md §12): the open engine's list and get, plus hosted v2's create, update
and delete. The primary calendar and read-only ones cannot be deleted."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from nylas_engine.api.deps import AccountScope, account_scope, json_object, write_scope
from nylas_engine.api.errors import bad_request, not_found
from nylas_engine.api.listing import list_response
from nylas_engine.api.openapi import doc, paged
from nylas_engine.api.params import check_id
from nylas_engine.api.query import AppListQuery
from nylas_engine.api.routing import SessionRoute
from nylas_engine.api.schemas import calendar as shape
from nylas_engine.api.views.calendar import calendar_fields, calendar_json
from nylas_engine.calendar.when import InvalidInput
from nylas_engine.store import calendar as store
from nylas_engine.store.models import Calendar

router = APIRouter(route_class=SessionRoute)
WRITE = doc(409, reply=shape.Calendar, body=shape.CalendarInput)


def _calendar(scope: AccountScope, calendar_id: str) -> Calendar:
    calendar = store.find_calendar(scope.session, scope.account, check_id(calendar_id))
    if calendar is None:
        raise not_found(f"Couldn't find calendar {calendar_id}")
    return calendar


def _fields(body: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    try:
        return calendar_fields(body, creating=creating)
    except InvalidInput as exc:
        raise bad_request(str(exc)) from exc


@router.get("/calendars", **doc(reply=paged(shape.Calendar)))
@router.get("/calendars/", include_in_schema=False)
def list_calendars(
    params: Annotated[AppListQuery, Query()], scope: AccountScope = Depends(account_scope)
) -> Any:
    return list_response(
        params,
        scope.session,
        store.calendars(scope.account, params.metadata()),
        lambda calendar, _expanded: calendar_json(calendar, scope.account),
    )


@router.get("/calendars/{calendar_id}", **doc(reply=shape.Calendar))
def get_calendar(calendar_id: str, scope: AccountScope = Depends(account_scope)) -> Any:
    return calendar_json(_calendar(scope, calendar_id), scope.account)


@router.post("/calendars", **doc(409, reply=shape.Calendar, body=shape.CalendarCreate))
@router.post("/calendars/", include_in_schema=False)
def create_calendar(
    body: dict[str, Any] = Depends(json_object), scope: AccountScope = Depends(write_scope)
) -> Any:
    calendar = store.create_calendar(scope.session, scope.account, _fields(body, creating=True))
    return calendar_json(calendar, scope.account)


@router.put("/calendars/{calendar_id}", **WRITE)
@router.patch("/calendars/{calendar_id}", **WRITE)
def update_calendar(
    calendar_id: str,
    body: dict[str, Any] = Depends(json_object),
    scope: AccountScope = Depends(write_scope),
) -> Any:
    calendar = _calendar(scope, calendar_id)
    if calendar.read_only:
        raise bad_request("Cannot update read_only calendar.")
    store.update_calendar(calendar, _fields(body, creating=False))
    return calendar_json(calendar, scope.account)


@router.delete("/calendars/{calendar_id}", **doc(409))
def delete_calendar(calendar_id: str, scope: AccountScope = Depends(write_scope)) -> Any:
    calendar = _calendar(scope, calendar_id)
    if calendar.is_primary:
        raise bad_request("The primary calendar cannot be deleted.")
    if calendar.read_only:
        raise bad_request("Cannot delete read_only calendar.")
    store.delete_calendar(scope.session, calendar)
    return None
