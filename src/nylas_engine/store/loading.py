"""What a page of the API loads, and nothing more.

The mapping eagerly loads nothing costly: a thread's messages are loaded on access only.
Pages ask here for what they render:
* threads: their stored summaries (store/thread_summary.py; a page of rows,
  store/thread_rows.py, read them with the threads) and the live categories those name, one
  query each per page; the expanded view also loads the page's messages and
  drafts, without their bodies (it shows none);
* messages: their categories, attachments (with files) and the events their invitations
  brought, one query each per page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import BindParameter, bindparam, select
from sqlalchemy.orm import Session, defer, selectinload
from sqlalchemy.orm.interfaces import LoaderOption

from nylas_engine.store import thread_summary
from nylas_engine.store.message_rows import CategoryRow
from nylas_engine.store.models import Attachment, Category, Message, Thread
from nylas_engine.store.thread_rows import ThreadRow

_CHUNK = 500
_IDS: BindParameter[int] = bindparam("ids", expanding=True)
# Built once: only the ids change (`:ids`).
_LIVE_CATEGORIES = select(
    Category.id, Category.public_id, Category.type, Category.name, Category.display_name
).where(Category.id.in_(_IDS), Category.deleted_at.is_(None))


def message_options(*, body: bool = True) -> tuple[LoaderOption, ...]:
    """Loader options for rendering messages: their relations in one query each."""
    options: tuple[LoaderOption, ...] = (
        selectinload(Message.categories),
        selectinload(Message.attachments).joinedload(Attachment.file),
        selectinload(Message.reply_target),
    )
    if body:
        return (*options, selectinload(Message.events))
    return (*options, defer(Message.body))


@dataclass
class ThreadPage:
    """What rendering a page of threads needs besides the threads."""

    summaries: dict[int, dict[str, Any]]
    categories: dict[int, CategoryRow]  # live ones only
    messages: dict[str, Message] = field(default_factory=dict)  # expanded view only


def thread_page(
    session: Session, threads: Sequence[Thread | ThreadRow], *, expanded: bool
) -> ThreadPage:
    """`threads` are ORM objects or rows; rows come with their summaries."""
    summaries = {t.id: t.summary for t in threads if isinstance(t, ThreadRow) and t.summary}
    if missing := [t.id for t in threads if t.id not in summaries]:
        summaries.update(thread_summary.load(session, missing))
    category_ids = sorted({i for s in summaries.values() for i in s["category_ids"]})
    categories: dict[int, CategoryRow] = {}
    connection = session.connection()
    for start in range(0, len(category_ids), _CHUNK):
        chunk = category_ids[start : start + _CHUNK]
        for row in connection.execute(_LIVE_CATEGORIES, {"ids": chunk}):
            categories[row[0]] = CategoryRow(*row)
    page = ThreadPage(summaries, categories)
    if expanded:
        wanted = [i for s in summaries.values() for i in (*s["message_ids"], *s["draft_ids"])]
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            for message in session.scalars(
                select(Message)
                .where(Message.public_id.in_(chunk))
                .options(*message_options(body=False))
            ):
                page.messages[message.public_id] = message
    return page
