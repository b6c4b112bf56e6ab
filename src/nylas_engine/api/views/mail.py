"""JSON views of mail objects: threads (§6), messages and drafts (§7, §8), files (§10),
folders and labels (§11). Every function takes the owning account for ids and the
folder/label choice (`organization_unit`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from nylas_engine.api.views.calendar import event_json
from nylas_engine.store.calendar import Refs, master_ids
from nylas_engine.store.loading import ThreadPage, thread_page
from nylas_engine.store.message_rows import AttachmentRow, CategoryRow, MessageRow
from nylas_engine.store.models import Account, Attachment, Category, File, Message, Thread
from nylas_engine.store.thread_rows import ThreadRow

AnyMessage = Message | MessageRow  # an ORM object, or a row (store/message_rows.py)
AnyCategory = Category | CategoryRow
AnyThread = Thread | ThreadRow  # an ORM object, or a row (store/thread_rows.py)


def category_ref(category: AnyCategory) -> dict[str, Any]:
    return {"id": category.public_id, "name": category.name, "display_name": category.display_name}


def category_json(category: Category, account: Account) -> dict[str, Any]:
    return {
        "id": category.public_id,
        "object": category.type,
        "account_id": account.public_id,
        "name": category.name,
        "display_name": category.display_name,
    }


def attachment_ref(attachment: Attachment | AttachmentRow) -> dict[str, Any]:
    file = attachment.file
    ref: dict[str, Any] = {
        "id": file.public_id,
        "content_type": file.content_type,
        "size": file.size,
        "filename": file.filename,
    }
    if attachment.content_id:
        ref["content_id"] = attachment.content_id
    return ref


def _live_categories(message: AnyMessage) -> list[AnyCategory]:
    return [c for c in message.categories if c.deleted_at is None]


def _categories_field(
    account: Account, categories: Sequence[AnyCategory], *, single: bool
) -> tuple[str, Any]:
    if account.organization_unit == "label":
        return "labels", [category_ref(c) for c in categories if c.type == "label"]
    folders = [category_ref(c) for c in categories if c.type == "folder"]
    if single:
        return "folder", folders[0] if folders else None
    return "folders", folders


def message_json(
    message: AnyMessage,
    account: Account,
    expanded: bool = False,
    *,
    with_body: bool = True,
) -> dict[str, Any]:
    """A message, or a draft (`object: "draft"` with `version` and `reply_to_message_id`)."""
    thread = message.thread
    data: dict[str, Any] = {
        "id": message.public_id,
        "object": "draft" if message.is_draft else "message",
        "account_id": account.public_id,
        "thread_id": thread.public_id if thread is not None else None,
        "subject": message.subject,
        "from": message.from_ or [],
        "reply_to": message.reply_to or [],
        "to": message.to or [],
        "cc": message.cc or [],
        "bcc": message.bcc or [],
        "date": message.date,
        "snippet": message.snippet,
        "unread": message.unread,
        "starred": message.starred,
        "files": [attachment_ref(a) for a in message.attachments if a.file.deleted_at is None],
        "metadata": message.metadata_ or {},
    }
    key, value = _categories_field(account, _live_categories(message), single=True)
    data[key] = value
    if with_body:
        data["body"] = message.body
        events = list(message.events)
        refs = Refs(messages={message.id: message.public_id}, masters=master_ids(events))
        data["events"] = [event_json(event, account, refs) for event in events]
    if message.is_draft:
        data["version"] = message.version
        data["reply_to_message_id"] = _reply_target_id(message)
        # Lets an SDK that sends the whole draft back (nylas-legacy) keep its attachments.
        data["file_ids"] = [f["id"] for f in data["files"]]
    if expanded and with_body:
        data["headers"] = {
            "Message-Id": message.message_id_header,
            "In-Reply-To": message.in_reply_to,
            "References": message.references or None,
        }
    return data


def _reply_target_id(message: AnyMessage) -> str | None:
    target = message.reply_target if message.reply_to_message_id is not None else None
    if target is None or message.thread_id is None or target.thread_id != message.thread_id:
        return None
    return target.public_id


def thread_json(
    thread: AnyThread, account: Account, page: ThreadPage, expanded: bool = False
) -> dict[str, Any]:
    """A thread with its aggregates over its live messages (§6), as stored in its summary
    (store/thread_summary.py); `page` is what `store.loading.thread_page` loaded for it."""
    summary = page.summaries[thread.id]
    data: dict[str, Any] = {
        "id": thread.public_id,
        "object": "thread",
        "account_id": account.public_id,
        "subject": thread.subject,
        "participants": summary["participants"],
        "last_message_timestamp": thread.last_message_ts,
        "last_message_received_timestamp": thread.last_received_ts or thread.last_message_ts,
        "last_message_sent_timestamp": thread.last_sent_ts,
        "first_message_timestamp": thread.first_message_ts,
        "snippet": summary["snippet"],
        "unread": summary["unread"],
        "starred": summary["starred"],
        "has_attachments": summary["has_attachments"],
        "version": thread.version,
    }
    categories = [page.categories[i] for i in summary["category_ids"] if i in page.categories]
    key, value = _categories_field(account, categories, single=False)
    data[key] = value
    if expanded:
        for field, ids in (("messages", "message_ids"), ("drafts", "draft_ids")):
            loaded = (page.messages.get(i) for i in summary[ids])
            data[field] = [message_json(m, account, with_body=False) for m in loaded if m]
    else:
        data["message_ids"] = list(summary["message_ids"])
        data["draft_ids"] = list(summary["draft_ids"])
    return data


def thread_page_json(
    session: Session, threads: Sequence[AnyThread], account: Account, expanded: bool = False
) -> list[dict[str, Any]]:
    """Threads rendered with what their page needs loaded once for all of them."""
    page = thread_page(session, threads, expanded=expanded)
    return [thread_json(thread, account, page, expanded) for thread in threads]


def one_thread_json(
    session: Session, thread: Thread, account: Account, expanded: bool = False
) -> dict[str, Any]:
    return thread_page_json(session, [thread], account, expanded)[0]


def file_json(file: File, account: Account, expanded: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": file.public_id,
        "object": "file",
        "account_id": account.public_id,
        "content_type": file.content_type,
        "size": file.size,
        "filename": file.filename,
    }
    links = [a for a in file.attachments if a.message.deleted_at is None]
    if links:
        data["message_ids"] = [a.message.public_id for a in links]
        data["content_id"] = next((a.content_id for a in links if a.content_id), None)
        data["content_disposition"] = links[0].disposition
    return data
