"""File queries (docs/protocol.md §10): uploads and message attachments, bytes in the blob store."""

from __future__ import annotations

import mimetypes
from typing import Any

from sqlalchemy import Select, exists, select
from sqlalchemy.orm import Session

from nylas_engine.errors import InvalidRequest
from nylas_engine.mime.parse import sanitize_filename
from nylas_engine.store.models import Account, Attachment, File, Message, now


def create_file(
    session: Session,
    account: Account,
    *,
    sha256: str,
    size: int,
    filename: str | None,
    content_type: str | None,
) -> File:
    file = File(
        account_id=account.id,
        filename=sanitize_filename(filename),
        content_type=_clean_content_type(content_type),
        size=size,
        sha256=sha256,
    )
    session.add(file)
    session.flush()
    return file


def _clean_content_type(value: str | None) -> str | None:
    """`type/subtype` only (parameters dropped); None for anything that is not one."""
    if not value:
        return None
    essence = value.split(";", 1)[0].strip().lower()
    if "/" not in essence or len(essence) > 255 or not essence.isprintable() or " " in essence:
        return None
    return essence


def list_files(
    account: Account,
    *,
    filename: str | None = None,
    message_id: str | None = None,
    content_type: str | None = None,
) -> Select[Any]:
    """The account's live files in creation order, filtered as GET /files says."""
    stmt = select(File).where(File.account_id == account.id, File.deleted_at.is_(None))
    if filename is not None:
        stmt = stmt.where(File.filename == filename)
    if content_type is not None:
        stmt = stmt.where(File.content_type == content_type)
    if message_id is not None:
        stmt = stmt.where(
            exists().where(
                Attachment.file_id == File.id,
                Attachment.message_id == Message.id,
                Message.public_id == message_id,
                Message.account_id == account.id,
                Message.deleted_at.is_(None),
            )
        )
    return stmt.order_by(File.id)


def find_file(session: Session, account: Account, public_id: str) -> File | None:
    file: File | None = session.scalar(
        select(File).where(
            File.account_id == account.id,
            File.public_id == public_id,
            File.deleted_at.is_(None),
        )
    )
    return file


def files_for_ids(session: Session, account: Account, public_ids: list[str]) -> list[File]:
    """The files named by `public_ids` (in that order); 400 for any that is not this
    account's (docs/protocol.md §8: `Invalid block public id <id>`)."""
    found: list[File] = []
    for public_id in public_ids:
        if not isinstance(public_id, str):
            raise InvalidRequest(f"Invalid block public id {public_id}")
        file = find_file(session, account, public_id)
        if file is None:
            raise InvalidRequest(f"Invalid block public id {public_id}")
        if file not in found:
            found.append(file)
    return found


def is_attached(file: File) -> bool:
    return any(a.message.deleted_at is None for a in file.attachments)


def delete_file(file: File) -> None:
    """Soft delete (so delta reports it); a file still attached to a message stays."""
    if is_attached(file):
        raise InvalidRequest("Can't delete file that is attachment.")
    file.deleted_at = now()


def download_name(file: File) -> str:
    """The name to download under: the stored one, else `attachment.<ext>`."""
    if file.filename:
        return file.filename
    ext = mimetypes.guess_extension(file.content_type or "") if file.content_type else None
    return f"attachment{ext or ''}"
