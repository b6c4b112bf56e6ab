"""Writes to a message's folders or labels that another writer changed meanwhile.

An API write reads a message's categories without the write lock (reads never take it) and
writes the difference at flush. If the sync moved the message in between, the flush's
DELETE of a link finds no row and SQLAlchemy raises `StaleDataError`. The change is then
worked out once more from fresh rows: by then this transaction holds the write lock (its
failed DELETE took it), so nothing can change them again before it commits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError


def apply_once_more_if_stale(
    session: Session, apply: Callable[[], None], touched: Callable[[], Iterable[Any]]
) -> None:
    """`apply()` then flush, in a savepoint; on a stale category link, expire the messages
    `touched()` names and run it again."""
    try:
        with session.begin_nested():
            apply()
    except StaleDataError:
        for message in touched():
            session.expire(message, ["categories"])
        with session.begin_nested():
            apply()
