"""From a delta's object type to the JSON of the object's current state (wire-api §15).

The store loads the objects (`store.delta.current_objects`, one query per type); this module
only knows which view renders each type. View modules are imported on first use so that
importing the delta routes stays cheap and does not pull in every area of the API.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import Any

from nylas_engine.store.models import Account, Transaction

Renderer = Callable[[Any, Account, bool], dict[str, Any]]

EVENT_FOR_COMMAND = {"insert": "create", "update": "modify", "delete": "delete"}


def _view(module: str, name: str) -> Any:
    return getattr(import_module(f"nylas_engine.api.views.{module}"), name)


def _message(obj: Any, account: Account, expanded: bool) -> dict[str, Any]:
    result: dict[str, Any] = _view("mail", "message_json")(obj, account, expanded)
    return result


def _thread(obj: Any, account: Account, expanded: bool) -> dict[str, Any]:
    result: dict[str, Any] = _view("mail", "thread_json")(obj, account, expanded)
    return result


def _file(obj: Any, account: Account, expanded: bool) -> dict[str, Any]:
    result: dict[str, Any] = _view("mail", "file_json")(obj, account)
    return result


def _category(obj: Any, account: Account, expanded: bool) -> dict[str, Any]:
    result: dict[str, Any] = _view("mail", "category_json")(obj, account)
    return result


def _account(obj: Any, account: Account, expanded: bool) -> dict[str, Any]:
    result: dict[str, Any] = _view("account", "account_json")(obj)
    return result


RENDERERS: dict[str, Renderer] = {
    "message": _message,
    "draft": _message,
    "thread": _thread,
    "file": _file,
    "folder": _category,
    "label": _category,
    "account": _account,
}


def render(object_type: str, obj: Any, account: Account, expanded: bool) -> dict[str, Any]:
    renderer = RENDERERS.get(object_type)
    if renderer is None:  # FIXME(delta): calendar/event/contact views have not landed yet
        return {"id": obj.public_id, "object": object_type, "account_id": account.public_id}
    return renderer(obj, account, expanded)


def delta_json(
    trx: Transaction, obj: Any, account: Account, expanded: bool = False
) -> dict[str, Any]:
    """One delta: `attributes` is the object's current state, absent for a delete."""
    data: dict[str, Any] = {
        "object": trx.object_type,
        "event": EVENT_FOR_COMMAND[trx.command],
        "id": trx.object_public_id,
        "cursor": trx.public_id,
    }
    if obj is not None:
        data["attributes"] = render(trx.object_type, obj, account, expanded)
    return data
