"""Threads read as rows, not ORM objects: what a page of GET /threads renders
(api/views/mail.py `thread_json` takes either).

One query per page reads each thread's columns with its stored summary
(store/thread_summary.py) beside them, instead of loading ORM `Thread` objects and then
their summaries: building the objects cost more than the rest of a thread page (issue 13).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select
from sqlalchemy.orm import Session, aliased

from nylas_engine.store import thread_summary
from nylas_engine.store.db import json_text, json_value
from nylas_engine.store.models import Thread, ThreadSummary

_THREAD_COLUMNS = (
    Thread.id,
    Thread.public_id,
    Thread.subject,
    Thread.first_message_ts,
    Thread.last_message_ts,
    Thread.last_received_ts,
    Thread.last_sent_ts,
    Thread.version,
)
# An alias: the filters of store/threads.py test summaries in EXISTS subqueries of their own,
# which would otherwise correlate to the one joined here.
_summary = aliased(ThreadSummary)
_SUMMARY_COLUMNS = (
    _summary.thread_id,
    _summary.unread,
    _summary.starred,
    _summary.has_attachments,
    _summary.snippet,
    json_text(_summary.participants),
    json_text(_summary.message_ids),
    json_text(_summary.draft_ids),
    json_text(_summary.category_ids),
)
_SUMMARY_KEYS = (
    "thread_id",
    "unread",
    "starred",
    "has_attachments",
    "snippet",
    "participants",
    "message_ids",
    "draft_ids",
    "category_ids",
)
_JSON = frozenset({"participants", "message_ids", "draft_ids", "category_ids"})


@dataclass(slots=True)
class ThreadRow:
    """A thread as `thread_json` reads it (the attribute names of `models.Thread`), with
    its summary when the page read it alongside."""

    id: int
    public_id: str
    subject: str | None
    first_message_ts: int
    last_message_ts: int
    last_received_ts: int | None
    last_sent_ts: int | None
    version: int
    summary: dict[str, Any] | None = None


def page_rows(
    session: Session,
    stmt: Select[Any],
    limit: int,
    offset: int,
    params: dict[str, Any] | None = None,
) -> list[ThreadRow]:
    """One page of `stmt` (a select of `Thread`, filtered and ordered; run with `params`)
    as rows, each with its summary; a thread without a stored one gets it computed
    (`thread_summary.load`)."""
    page = (
        stmt.with_only_columns(*_THREAD_COLUMNS, *_SUMMARY_COLUMNS, maintain_column_froms=True)
        .outerjoin(_summary, _summary.thread_id == Thread.id)
        .limit(limit)
        .offset(offset)
    )
    rows: list[ThreadRow] = []
    width = len(_THREAD_COLUMNS)
    values: Any
    for values in session.connection().execute(page, params):
        row = ThreadRow(*values[:width])
        if values[width] is not None:
            row.summary = {
                key: json_value(value) if key in _JSON else value
                for key, value in zip(_SUMMARY_KEYS, values[width:], strict=True)
            }
        rows.append(row)
    missing = [r.id for r in rows if r.summary is None]
    if missing:
        computed = thread_summary.load(session, missing)
        for r in rows:
            if r.summary is None:
                r.summary = computed[r.id]
    return rows
