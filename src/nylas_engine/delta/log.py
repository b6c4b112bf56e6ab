"""The delta log is written by the session itself, so every writer (API, import, sync) feeds it.

`install(sessionmaker_or_session_class)` hooks the session's events, and they are the one
place that writes `Transaction` rows:
* before_flush: a message whose flags, categories or draft state change bumps its thread's
  `version`, so the thread shows up as modified too (docs/protocol.md §15);
* after_flush: one row per created, modified or deleted API object of the unit of work. A soft
  delete (`deleted_at` set) is logged as a delete; a draft that became a message is logged as
  a `draft` delete followed by a `message` insert;
* what the unit of work can't see (the bulk path's multi-row INSERTs, an outbox job's
  outcome) is handed over with `record`; it is written with the next flush of the same
  transaction, or when that transaction (or savepoint) commits, and dropped if it rolls back.

`on_commit(listener)` has `listener(account_id)` called after each commit in this process
that logged changes of that account: how `/delta/longpoll` and webhook delivery hear of this
process's own changes at once (store/delta_notify.py, webhooks/deliver.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import event, inspect, text
from sqlalchemy.orm import Session

from nylas_engine.ids import new_public_id
from nylas_engine.store.bulk import insert_rows
from nylas_engine.store.models import (
    Account,
    Calendar,
    Category,
    Contact,
    Event,
    File,
    Message,
    Thread,
    Transaction,
    now,
)

log = logging.getLogger("nylas_engine.delta")

_LOGGED = (Message, Thread, Category, File, Contact, Calendar, Event, Account)
_THREAD_RELEVANT = ("unread", "starred", "categories", "is_draft", "thread_id", "deleted_at")


def object_type(obj: Any) -> str:
    if isinstance(obj, Message):
        return "draft" if obj.is_draft else "message"
    if isinstance(obj, Category):
        return obj.type
    return {
        Thread: "thread",
        File: "file",
        Contact: "contact",
        Calendar: "calendar",
        Event: "event",
        Account: "account",
    }[type(obj)]


def _changed(obj: Any, attr: str) -> bool:
    return bool(inspect(obj).attrs[attr].history.has_changes())


def _before_flush(session: Session, _ctx: Any, _instances: Any) -> None:
    for obj in list(session.new) + list(session.dirty):
        if isinstance(obj, _LOGGED) and getattr(obj, "public_id", "x") is None:
            obj.public_id = new_public_id()
    # One bump per thread per flush, however many of its messages changed.
    touched = {
        obj.thread
        for obj in session.dirty
        if isinstance(obj, Message)
        and obj.thread is not None
        and any(_changed(obj, a) for a in _THREAD_RELEVANT)
    }
    for thread in touched:
        thread.version = (thread.version or 0) + 1


def _entry(account_id: int, object_type: str, public_id: str, command: str) -> dict[str, Any]:
    return {
        "public_id": new_public_id(),
        "account_id": account_id,
        "object_type": object_type,
        "object_public_id": public_id,
        "command": command,
        "created_at": now(),
    }


_PENDING = "delta_pending"  # session.info: [(transaction, row)] handed over with `record`


def record(
    session: Session, account_id: int, objects: list[tuple[str, str]], command: str = "insert"
) -> None:
    """Hand over objects written without the unit of work (a bulk INSERT, which no flush
    sees), as (object type, public id), to be logged with the session's own changes. Also
    an outbox job's outcome (store/outbox_jobs.py), which webhooks announce and delta pages
    pass over."""
    if not objects:
        return
    session.connection()  # the transaction these rows belong to is under way
    transaction = session.get_nested_transaction() or session.get_transaction()
    pending = session.info.setdefault(_PENDING, [])
    pending += [(transaction, _entry(account_id, t, id_, command)) for t, id_ in objects]


def _handed_over(session: Session) -> list[dict[str, Any]]:
    """The rows handed over in the innermost transaction, taken off the list (rows of an
    enclosing one wait for it: written inside this savepoint, they would go if it rolled back)."""
    pending = session.info.get(_PENDING)
    if not pending:
        return []
    current = session.get_nested_transaction() or session.get_transaction()
    session.info[_PENDING] = [item for item in pending if item[0] is not current]
    return [row for transaction, row in pending if transaction is current]


def _write(session: Session, rows: list[dict[str, Any]]) -> None:
    """The one writer of the log."""
    if rows:
        _hold_log(session, [row["account_id"] for row in rows])
        insert_rows(session.connection(), Transaction.__table__, rows)
        if _COMMIT_LISTENERS:
            session.info.setdefault(_WRITTEN, set()).update(row["account_id"] for row in rows)


_WRITTEN = "delta_accounts"  # session.info: accounts with rows in the open transaction
_COMMIT_LISTENERS: list[Callable[[int], None]] = []


def on_commit(listener: Callable[[int], None]) -> Callable[[], None]:
    """Call `listener(account_id)`, in the committing thread, after each commit of this
    process that logged changes of that account. Returns what removes the listener."""
    _COMMIT_LISTENERS.append(listener)
    return lambda: _COMMIT_LISTENERS.remove(listener)


def _after_commit(session: Session) -> None:
    accounts = session.info.pop(_WRITTEN, None)
    for listener in list(_COMMIT_LISTENERS) if accounts else ():
        for account_id in accounts:
            try:
                listener(account_id)
            except Exception:  # the commit stands: a listener's failure is only logged
                log.exception("a delta commit listener failed")


def _after_rollback(session: Session) -> None:
    session.info.pop(_WRITTEN, None)


def _before_commit(session: Session) -> None:
    _write(session, _handed_over(session))


def _after_transaction_end(session: Session, transaction: Any) -> None:
    """What a transaction that ended without committing had handed over goes with it."""
    pending = session.info.get(_PENDING)
    if pending:
        session.info[_PENDING] = [item for item in pending if item[0] is not transaction]


def _after_flush(session: Session, _ctx: Any) -> None:
    rows = _handed_over(session)  # written before this flush's changes: they came first

    def log(obj: Any, command: str, type_: str | None = None) -> None:
        account_id = obj.id if isinstance(obj, Account) else obj.account_id
        rows.append(_entry(account_id, type_ or object_type(obj), obj.public_id, command))

    for obj in session.new:
        if isinstance(obj, _LOGGED):
            log(obj, "insert")
    for obj in session.dirty:
        if not isinstance(obj, _LOGGED) or not session.is_modified(obj):
            continue
        state: Any = inspect(obj)
        if "deleted_at" in state.attrs and _changed(obj, "deleted_at") and obj.deleted_at:
            log(obj, "delete")
        elif isinstance(obj, Message) and _changed(obj, "is_draft") and not obj.is_draft:
            log(obj, "delete", "draft")
            log(obj, "insert", "message")
        else:
            log(obj, "update")
    for obj in session.deleted:
        if isinstance(obj, _LOGGED) and not isinstance(obj, Account):
            log(obj, "delete")
    _write(session, rows)


_LOCK_CLASS = 0x4E594C  # the advisory-lock namespace of the delta log ("NYL")


def _hold_log(session: Session, account_ids: list[int]) -> None:
    """Keep other writers of these accounts' logs waiting until this transaction ends.

    Delta rows are numbered as they are written and read in number order, so a transaction
    that took a lower number and commits after one that took a higher number would be skipped
    by a reader whose cursor had passed the higher one. SQLite lets one writer at a time
    anyway; PostgreSQL gets a transaction-scoped advisory lock per account (taken in account
    order, so two writers can't wait on each other)."""
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        return
    for account_id in sorted(set(account_ids)):
        connection.execute(
            text("SELECT pg_advisory_xact_lock(:space, :account)"),
            {"space": _LOCK_CLASS, "account": account_id},
        )


def install(target: Any) -> None:
    """Attach the hooks to a sessionmaker (or Session class)."""
    event.listen(target, "before_flush", _before_flush)
    event.listen(target, "after_flush", _after_flush)
    event.listen(target, "before_commit", _before_commit)
    event.listen(target, "after_transaction_end", _after_transaction_end)
    event.listen(target, "after_commit", _after_commit)
    event.listen(target, "after_rollback", _after_rollback)
