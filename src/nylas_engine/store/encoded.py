"""JSON text made ahead of the INSERT that stores it (see `store.bulk`).

A parse worker (store/prepare.py) makes the text of a message's address lists while it
parses, so the storing process, which a first sync waits on, binds that text instead of
encoding the lists again. Kept apart from `store.bulk` so the worker imports no SQLAlchemy.
"""

from __future__ import annotations

import json
from typing import Any

ENCODE = json.JSONEncoder().encode  # what json.dumps(value) does with no options


class EncodedList(list[Any]):
    """A list with the JSON text a JSON column stores for it (`json`), made by `encoded`.
    Only ever read after that (a change to the list would leave the text stale)."""

    __slots__ = ("json",)
    json: str


def encoded(items: list[Any]) -> list[Any]:
    """`items` as an `EncodedList`; an empty list is left as it is (its text costs nothing)."""
    if not items:
        return items
    out = EncodedList(items)
    out.json = ENCODE(items)
    return out
