"""What a page of the API loads, and nothing more.

The mapping eagerly loads nothing costly: a thread's messages are loaded on access only.
Pages ask here for what they render:
* threads: their stored summaries (store/thread_summary.py) and the live categories those
  name, one query each per page; the expanded view also loads the page's messages and
  drafts, without their bodies (it shows none);
* messages: their categories, attachments (with files) and the events their invitations
  brought, one query each per page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, defer, selectinload
from sqlalchemy.orm.interfaces import LoaderOption

from nylas_engine.store import thread_summary
from nylas_engine.store.models import Attachment, Category, Message, Thread

_CHUNK = 500


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
    categories: dict[int, Category]  # live ones only
    messages: dict[str, Message] = field(default_factory=dict)  # expanded view only


def thread_page(session: Session, threads: Sequence[Thread], *, expanded: bool) -> ThreadPage:
    summaries = thread_summary.load(session, [t.id for t in threads])
    category_ids = sorted({i for s in summaries.values() for i in s["category_ids"]})
    categories: dict[int, Category] = {}
    for start in range(0, len(category_ids), _CHUNK):
        chunk = category_ids[start : start + _CHUNK]
        for category in session.scalars(
            select(Category).where(Category.id.in_(chunk), Category.deleted_at.is_(None))
        ):
            categories[category.id] = category
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
