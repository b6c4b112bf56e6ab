"""The query filters of GET /threads and GET /messages (docs/protocol.md §6, §7, §18 items 3-4)."""

from __future__ import annotations

from fastapi import Request

from nylas_engine.api.metadata_query import metadata_filter
from nylas_engine.api.params import Query
from nylas_engine.store.messages import MailFilters


def mail_filters(request: Request) -> MailFilters:
    """Parse and validate the filters; a bad value is a 400 naming the parameter.

    `folder_id` and `label_id` (sent by the SDK's `Folder.threads`/`Label.threads`) are
    aliases of `in`; `from_`/`in_` are accepted too. The hosted `metadata_*` filters match
    a message's (or draft's) metadata; a thread matches when one of its messages does.
    """
    q = Query(request)
    thread_id = q.string("thread_id")
    if thread_id is not None:
        thread_id = q.id("thread_id")
    return MailFilters(
        subject=q.string("subject"),
        any_email=q.emails("any_email"),
        to=q.string("to"),
        from_=q.string("from", "from_"),
        cc=q.string("cc"),
        bcc=q.string("bcc"),
        thread_id=thread_id,
        started_before=q.timestamp("started_before"),
        started_after=q.timestamp("started_after"),
        last_message_before=q.timestamp("last_message_before"),
        last_message_after=q.timestamp("last_message_after"),
        received_before=q.timestamp("received_before"),
        received_after=q.timestamp("received_after"),
        filename=q.string("filename"),
        in_=q.string("in", "in_", "folder_id", "label_id"),
        unread=q.boolean("unread"),
        starred=q.boolean("starred"),
        metadata=metadata_filter(request),
    )
