"""What a token opened a moment ago, kept for at most `TTL` seconds (issue 13).

Every API request names its account by a token; looking it up (and the account) costs a
query, a transaction and a hop to a worker thread, more than reading one message. A token
that opened an account is remembered here, keyed by the token's SHA-256 (never the token),
with a copy of the account's columns and the token's grants, so the next request with it
needs no database work to be authenticated.

Never stale for longer than `TTL`, and in this process not at all: a commit that changed
an account, an app or a token (through the unit of work, or an UPDATE/DELETE statement on
their tables, such as `store.auth.revoke_all`) empties the cache, so a revoked token, a
deleted or downgraded account is refused on the very next request. Another process
sharing the database (a CLI command, another `serve` worker) is seen within `TTL`.
Failures are never remembered.
"""

from __future__ import annotations

import copy
import functools
import threading
import time
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import ORMExecuteState, Session, make_transient_to_detached

from nylas_engine.scopes import Grants
from nylas_engine.store.models import AccessToken, Account, App

TTL = 1.0  # seconds
MAX_ENTRIES = 10_000
_WATCHED = (Account, AccessToken, App)
_WATCHED_TABLES = frozenset(m.__tablename__ for m in _WATCHED)

_entries: dict[tuple[str, str], tuple[float, dict[str, Any], Grants]] = {}
_lock = threading.Lock()
_generation = 0


@functools.cache
def _columns() -> list[str]:
    return [attr.key for attr in inspect(Account).column_attrs]


def generation() -> int:
    """Read before looking a token up; `put` keeps the result only if nothing was
    invalidated meanwhile."""
    return _generation


def get(session: Session, key: tuple[str, str]) -> tuple[Account, Grants] | None:
    """The account (attached to `session`, no query made) and grants of a remembered key."""
    entry = _entries.get(key)
    if entry is None:
        return None
    expires, columns, grants = entry
    if time.monotonic() >= expires:
        _entries.pop(key, None)
        return None
    manager = inspect(Account).class_manager
    account: Account = manager.new_instance()
    account.__dict__.update(copy.deepcopy(columns))  # loaded as is, with no change events
    make_transient_to_detached(account)
    identity = inspect(account).key
    if identity is not None and session.identity_map.get(identity) is not None:
        return session.merge(account, load=False), grants
    session.add(account)
    return account, grants


def put(key: tuple[str, str], account: Account, grants: Grants, seen: int) -> None:
    columns = {name: getattr(account, name) for name in _columns()}
    with _lock:
        if seen != _generation:
            return
        if len(_entries) >= MAX_ENTRIES:
            _entries.clear()
        _entries[key] = (time.monotonic() + TTL, copy.deepcopy(columns), grants)


def clear() -> None:
    global _generation
    with _lock:
        _generation += 1
        _entries.clear()


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _context: Any) -> None:
    if any(isinstance(o, _WATCHED) for o in (*session.dirty, *session.deleted)):
        session.info["auth_changed"] = True
        clear()


@event.listens_for(Session, "do_orm_execute")
def _on_execute(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete):
        return
    table: Any = getattr(state.statement, "table", None)
    if getattr(table, "name", None) in _WATCHED_TABLES:
        state.session.info["auth_changed"] = True
        clear()


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.info.pop("auth_changed", False):
        clear()  # again: a lookup made before the commit may have cached the old state
