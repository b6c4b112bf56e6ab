"""From a delta's object type to the JSON of the object's current state (docs/protocol.md §15).

The store loads a page's objects (`store.delta.current_objects`, one query per type); this
module knows which view renders each type. Each type has a *preparer* that sees all of the
page's objects of that type at once, so whatever a view needs besides the object (an
event's message and master ids, say) is looked up once per page, never once per delta.
View modules are imported on first use, keeping the delta routes cheap to import.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from nylas_engine.store.models import Account, Transaction

EVENT_FOR_COMMAND = {"insert": "create", "update": "modify", "delete": "delete"}

Render = Callable[[Any], dict[str, Any]]


@dataclass(frozen=True)
class RenderContext:
    session: Session
    account: Account
    expanded: bool = False
    base_url: str = ""  # for URLs inside objects (a contact's picture_url)


def _message(objs: list[Any], ctx: RenderContext) -> Render:
    from nylas_engine.api.views.mail import message_json

    return lambda obj: message_json(obj, ctx.account, ctx.expanded)


def _thread(objs: list[Any], ctx: RenderContext) -> Render:
    from nylas_engine.api.views.mail import thread_json
    from nylas_engine.store.loading import thread_page

    page = thread_page(ctx.session, objs, expanded=ctx.expanded)
    return lambda obj: thread_json(obj, ctx.account, page, ctx.expanded)


def _file(objs: list[Any], ctx: RenderContext) -> Render:
    from nylas_engine.api.views.mail import file_json

    return lambda obj: file_json(obj, ctx.account)


def _category(objs: list[Any], ctx: RenderContext) -> Render:
    from nylas_engine.api.views.mail import category_json

    return lambda obj: category_json(obj, ctx.account)


def _calendar(objs: list[Any], ctx: RenderContext) -> Render:
    from nylas_engine.api.views.calendar import calendar_json

    return lambda obj: calendar_json(obj, ctx.account)


def _event(objs: list[Any], ctx: RenderContext) -> Render:
    from nylas_engine.api.views.calendar import event_json
    from nylas_engine.store.calendar import refs

    found = refs(ctx.session, objs)
    return lambda obj: event_json(obj, ctx.account, found)


def _contact(objs: list[Any], ctx: RenderContext) -> Render:
    from nylas_engine.api.views.contacts import contact_json

    return lambda obj: contact_json(obj, ctx.account, ctx.base_url)


def _account(objs: list[Any], ctx: RenderContext) -> Render:
    from nylas_engine.api.views.account import account_json

    return lambda obj: account_json(obj)


PREPARERS: dict[str, Callable[[list[Any], RenderContext], Render]] = {
    "message": _message,
    "draft": _message,
    "thread": _thread,
    "file": _file,
    "folder": _category,
    "label": _category,
    "calendar": _calendar,
    "event": _event,
    "contact": _contact,
    "account": _account,
}


def deltas_json(items: list[tuple[Transaction, Any]], ctx: RenderContext) -> list[dict[str, Any]]:
    """The deltas of one page: (transaction, current object or None for a delete) pairs, in
    order. `attributes` is the object's current state, absent for a delete."""
    by_type: dict[str, list[Any]] = defaultdict(list)
    for trx, obj in items:
        if obj is not None:
            by_type[trx.object_type].append(obj)
    renderers = {type_: PREPARERS[type_](objs, ctx) for type_, objs in by_type.items()}
    result = []
    for trx, obj in items:
        data: dict[str, Any] = {
            "object": trx.object_type,
            "event": EVENT_FOR_COMMAND[trx.command],
            "id": trx.object_public_id,
            "cursor": trx.public_id,
        }
        if obj is not None:
            data["attributes"] = renderers[trx.object_type](obj)
        result.append(data)
    return result
