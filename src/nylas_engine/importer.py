"""`nylas-engine import ACCOUNT PATH`: bring an mbox file, a Maildir or a folder of mboxes
into an account.

* A Maildir's top level is the Inbox; its Maildir++ subfolders (`.Sent`, `.Archive.2023`)
  become folders, with roles for the well-known names. `S` means read, `F` starred, `D` draft.
* An mbox file goes to the Inbox, except messages from the account's own address (Sent).
  `Status: R` / `X-Status: F` (mutt, Thunderbird) and Gmail Takeout's `X-Gmail-Labels` give
  read and starred states.
* A directory of mbox files (`Work.mbox`, `Archive`) makes one folder per file.
* A single message file (`.eml`) is imported into the Inbox.

Messages go through `store.mail.ingest_messages` a batch at a time, each batch committed on
its own so memory stays flat on large mailboxes. If a batch fails, its messages are stored
one by one (a savepoint each), so a message that fails is rolled back alone and counted; one
with parse defects is stored as well as it parsed and counted too. A message already in the
account (same bytes) is skipped, so running an import twice is safe. An import of more than
one batch parses in worker processes (`store.prepare.PreparePool`) while this process reads
the mailbox and stores the batch before.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import mailbox
import os
import re
import sys
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from nylas_engine.context import EngineContext
from nylas_engine.mime.parse import ParsedMessage, parse_date
from nylas_engine.store.categories import role_for_name
from nylas_engine.store.mail import (
    NewMessage,
    category_by_role,
    get_or_create_category,
    ingest_messages,
)
from nylas_engine.store.models import Account, Category, Message, message_categories
from nylas_engine.store.prepare import BATCHES_AHEAD, PreparePool, Preparing, prepare_dated

BATCH_SIZE = 200

Progress = Callable[[int, int], None]


@dataclass
class ImportSummary:
    account_id: str
    email_address: str
    imported: int = 0
    malformed: int = 0  # stored, but the parser had to guess (defects)
    failed: int = 0  # could not be stored at all
    duplicates: int = 0  # already in the account: skipped
    attachments: int = 0
    folders: dict[str, int] = field(default_factory=dict)  # display name -> messages

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        folders = ", ".join(f"{name} {count}" for name, count in self.folders.items())
        return (
            f"Imported {self.imported} messages ({self.attachments} attachments) into "
            f"{self.email_address}: {self.malformed} with defects, {self.failed} failed, "
            f"{self.duplicates} duplicates skipped" + (f". Folders: {folders}" if folders else "")
        )


@dataclass
class _Entry:
    """One message to import: how to read it, and what its mailbox says about it."""

    read: Callable[[], bytes]
    flags: str = ""  # Maildir letters (S, F, D, T, ...)
    fallback_date: int | None = None
    from_line: bool = False  # `read()` returns an mbox From_ line first


@dataclass
class _Folder:
    display_name: str | None  # None: choose Inbox or Sent per message
    role: str | None
    entries: list[_Entry]


class ImportFailed(Exception):
    """An import that cannot start (unknown path, unreadable mailbox)."""


# ------------------------------------------------------------------------------ sources


def _is_maildir(path: Path) -> bool:
    return (path / "cur").is_dir() and (path / "new").is_dir()


def _maildir_entries(path: Path) -> list[_Entry]:
    entries: list[tuple[float, str, _Entry]] = []
    for sub in ("new", "cur"):
        folder = path / sub
        if not folder.is_dir():
            continue
        for name in os.listdir(folder):
            file = folder / name
            if name.startswith(".") or not file.is_file():
                continue
            info = name.rsplit(":2,", 1)[1] if ":2," in name else ""
            prefix = name.split(".", 1)[0]
            delivered = int(prefix) if prefix.isdigit() else int(file.stat().st_mtime)
            entries.append(
                (delivered, name, _Entry(file.read_bytes, info.upper(), fallback_date=delivered))
            )
    entries.sort(key=lambda e: (e[0], e[1]))  # delivery order, so replies follow originals
    return [e[2] for e in entries]


def _maildir_folders(path: Path) -> list[_Folder]:
    folders = [_Folder("Inbox", "inbox", _maildir_entries(path))]
    for child in sorted(path.iterdir()):
        if not child.is_dir() or child.name in ("cur", "new", "tmp"):
            continue
        if child.name.startswith(".") and _is_maildir(child):  # Maildir++: .Parent.Child
            parts = [p for p in child.name[1:].split(".") if p]
            if parts and parts[0].upper() == "INBOX" and len(parts) > 1:
                parts = parts[1:]
            display = "/".join(parts)
            role = role_for_name(display) if len(parts) == 1 else None
            folders.append(_Folder(display, role, _maildir_entries(child)))
        elif _is_maildir(child):  # the "fs" layout: plain subdirectories
            folders.append(_Folder(child.name, role_for_name(child.name), _maildir_entries(child)))
    return folders


def _mbox_entries(path: Path) -> list[_Entry]:
    box = mailbox.mbox(str(path), create=False)
    return [_Entry(_reader(box, key), from_line=True) for key in box.iterkeys()]


def _reader(box: mailbox.mbox, key: str) -> Callable[[], bytes]:
    return lambda: box.get_bytes(key, from_=True)


_HEAD_BYTES = 65536
# A header field line (RFC 5322 2.2: printable name, colon) and the fields that show a header
# section is a message's: a text file can start with "Note: ..." but not with these.
_FIELD = re.compile(rb"^([!-9;-~]+)[ \t]*:", re.MULTILINE)
_MESSAGE_FIELDS = {
    b"from",
    b"to",
    b"cc",
    b"subject",
    b"date",
    b"message-id",
    b"received",
    b"return-path",
    b"mime-version",
    b"delivered-to",
    b"sender",
}


def _head(path: Path) -> bytes:
    try:
        with path.open("rb") as fh:
            return fh.read(_HEAD_BYTES)
    except OSError:
        return b""


def _looks_like_message(data: bytes) -> bool:
    """`data` starts with header fields (as a mail parser reads them: up to the first line
    that is not a field or a field's fold) naming one that every mail has (From, Date, ...)."""
    names = set()
    for line in re.split(rb"\r?\n", data):
        field = _FIELD.match(line)
        if field:
            names.add(field.group(1).lower())
        elif not (names and line[:1] in (b" ", b"\t")):
            break
    return bool(names & _MESSAGE_FIELDS)


def _looks_like_mbox(path: Path) -> bool:
    """A "From " line, then a message's header section."""
    first, _, rest = _head(path).partition(b"\n")
    return first.startswith(b"From ") and _looks_like_message(rest)


def _single_message(path: Path) -> _Folder:
    """One message file (.eml), refused unless it looks like mail: importing a README or an
    empty file would make an empty message, not an error the user can see."""
    head = _head(path)
    if not head.strip():
        raise ImportFailed(f"{path} is empty: there is no mail in it to import")
    if not _looks_like_message(head):
        raise ImportFailed(
            f'{path} is not mail: expected an mbox file (starting with a "From " line), a '
            "Maildir, a folder of mbox files, or one message (.eml) starting with headers "
            "such as From:, Date: and Subject:"
        )
    return _Folder(None, None, [_Entry(path.read_bytes)])


def _folder_name(path: Path) -> str:
    return path.name.removesuffix(".mbox").removesuffix(".mbx") or path.name


def discover(path: Path) -> list[_Folder]:
    """What `path` holds, as folders of messages to import."""
    if not path.exists():
        raise ImportFailed(f"no such file or directory: {path}")
    if path.is_file():
        if _looks_like_mbox(path):
            return [_Folder(None, None, _mbox_entries(path))]
        return [_single_message(path)]
    if _is_maildir(path):
        return _maildir_folders(path)
    folders: list[_Folder] = []
    for child in sorted(path.iterdir()):
        mbox_file = child / "mbox" if child.is_dir() else child  # Apple Mail: Name.mbox/mbox
        if mbox_file.is_file() and _looks_like_mbox(mbox_file):
            name = _folder_name(child)
            folders.append(_Folder(name, role_for_name(name), _mbox_entries(mbox_file)))
        elif child.is_dir() and _is_maildir(child):
            folders.append(_Folder(child.name, role_for_name(child.name), _maildir_entries(child)))
    if not folders:
        raise ImportFailed(f"{path} is neither an mbox file, a Maildir nor a folder of mboxes")
    return folders


# ------------------------------------------------------------------------------ flags


_HEADER_END = re.compile(rb"\r?\n\r?\n")


def _header_value(head: bytes, name: bytes) -> str | None:
    found = re.search(rb"^" + name + rb":[ \t]*([^\r\n]*)", head, re.IGNORECASE | re.MULTILINE)
    return found.group(1).decode("latin-1").strip() if found else None


def _mbox_flags(raw: bytes) -> str:
    """Maildir-style letters from the state headers mbox writers leave behind."""
    match = _HEADER_END.search(raw)
    head = raw[: match.start()] if match else raw[:65536]
    flags = ""
    status = (_header_value(head, rb"Status") or "") + (_header_value(head, rb"X-Status") or "")
    if "R" in status:
        flags += "S"
    if "F" in status:
        flags += "F"
    if "D" in (_header_value(head, rb"X-Status") or ""):
        flags += "T"
    mozilla = _header_value(head, rb"X-Mozilla-Status")
    if mozilla:
        try:
            bits = int(mozilla, 16)
            flags += ("S" if bits & 0x1 else "") + ("F" if bits & 0x4 else "")
        except ValueError:
            pass
    labels = _header_value(head, rb"X-Gmail-Labels")
    if labels is not None:
        names = {label.strip().lower() for label in labels.split(",")}
        flags += ("" if "unread" in names else "S") + ("F" if "starred" in names else "")
    return flags


def _split_from_line(data: bytes) -> tuple[bytes, int | None]:
    first, _, rest = data.partition(b"\n")
    if not first.startswith(b"From "):
        return data, None
    fields = first.decode("latin-1").split(None, 2)
    date = parse_date(fields[2]) if len(fields) == 3 else None
    return rest, date


# ------------------------------------------------------------------------------ import


def import_path(
    ctx: EngineContext,
    account: Account,
    path: str | Path,
    progress: Progress | None = None,
    *,
    batch_size: int = BATCH_SIZE,
) -> ImportSummary:
    """Import every message under `path` into `account`; see the module docstring."""
    folders = discover(Path(path))
    total = sum(len(f.entries) for f in folders)
    summary = ImportSummary(account.public_id, account.email_address)
    account_id = account.id
    with ctx.db.session() as session:
        seen: set[str] = {
            sha
            for sha in session.scalars(
                select(Message.raw_sha256).where(Message.account_id == account_id)
            )
            if sha
        }
        category_ids = {id(f): _folder_category(session, account, f) for f in folders}

    # A long import parses (and writes the blobs of) the next batches in worker processes
    # while this one stores the batch before, as the IMAP sync does.
    ahead: deque[tuple[list[_Ready], Preparing[ParsedMessage]]] = deque()
    with PreparePool(ctx.blobs, workers=None if total > batch_size else 0) as pool:
        batch: list[_Ready] = []
        for done, (folder, entry) in enumerate(_entries(folders), start=1):
            ready = _read_one(folder, category_ids[id(folder)], entry, seen, summary)
            if ready is not None:
                batch.append(ready)
            if len(batch) >= batch_size:
                ahead.append((batch, _prepare(pool, batch)))
                batch = []
                if len(ahead) > BATCHES_AHEAD:
                    _store_batch(ctx, account_id, *ahead.popleft(), summary)
            if progress:
                progress(done, total)
        if batch:
            ahead.append((batch, _prepare(pool, batch)))
        while ahead:
            _store_batch(ctx, account_id, *ahead.popleft(), summary)
    return summary


def _prepare(pool: PreparePool, batch: list[_Ready]) -> Preparing[ParsedMessage]:
    items = [(ready.raw, ready.fallback_date) for ready in batch]
    return pool.map(prepare_dated, items, pool.blob_root, fallback=lambda: prepare_dated(items))


def _entries(folders: list[_Folder]) -> Iterator[tuple[_Folder, _Entry]]:
    for folder in folders:
        for entry in folder.entries:
            yield folder, entry


def _folder_category(session: Session, account: Account, folder: _Folder) -> int | None:
    if folder.display_name is None:
        return None
    if folder.role:
        category = category_by_role(session, account, folder.role)
        if category is not None:
            return category.id
    return get_or_create_category(session, account, folder.display_name, folder.role).id


@dataclass
class _Ready:
    """A message read, waiting for its batch to be parsed and stored."""

    raw: bytes
    fallback_date: int | None
    digest: str
    flags: str
    folder: _Folder
    category_id: int | None


def _read_one(
    folder: _Folder,
    category_id: int | None,
    entry: _Entry,
    seen: set[str],
    summary: ImportSummary,
) -> _Ready | None:
    """Read one entry; None when it is a duplicate or can't be read."""
    try:
        raw = entry.read()
        fallback = entry.fallback_date
        if entry.from_line:
            raw, fallback = _split_from_line(raw)
        flags = entry.flags + (_mbox_flags(raw) if entry.from_line else "")
        digest = hashlib.sha256(raw).hexdigest()
        if digest in seen:
            summary.duplicates += 1
            return None
    except Exception as exc:  # one bad message must not stop the import
        _failed(summary, exc)
        return None
    seen.add(digest)  # a second copy later in the same batch is a duplicate too
    return _Ready(raw, fallback, digest, flags, folder, category_id)


def _store_batch(
    ctx: EngineContext,
    account_id: int,
    ready: list[_Ready],
    preparing: Preparing[ParsedMessage],
    summary: ImportSummary,
) -> None:
    """Store a batch with one `ingest_messages` and commit it. If that fails, each message
    is stored alone (a savepoint each), so only the ones that fail are lost and counted."""
    batch = list(zip(ready, preparing.result(), strict=True))
    if not batch:
        return
    with ctx.db.session() as session:
        account = session.get(Account, account_id)
        assert account is not None
        try:
            with session.begin_nested():
                ids = ingest_messages(session, ctx.blobs, account, _items(session, batch))
        except Exception:
            ids = []
            for one in batch:
                try:
                    with session.begin_nested():
                        ids += ingest_messages(session, ctx.blobs, account, _items(session, [one]))
                except Exception as exc:
                    _failed(summary, exc)
                    continue
                _counted(summary, one[1])
        else:
            for _, parsed in batch:
                _counted(summary, parsed)
        names = session.execute(
            select(Category.display_name)
            .join(message_categories, message_categories.c.category_id == Category.id)
            .where(message_categories.c.message_id.in_(ids))
        )
        for (name,) in names:
            summary.folders[name] = summary.folders.get(name, 0) + 1


def _items(session: Session, batch: list[tuple[_Ready, ParsedMessage]]) -> list[NewMessage]:
    items = []
    for ready, parsed in batch:
        category = session.get(Category, ready.category_id) if ready.category_id else None
        items.append(
            NewMessage(
                ready.raw,
                parsed,
                categories=[category] if category is not None else None,
                unread="S" not in ready.flags,
                starred="F" in ready.flags,
                is_sent=ready.folder.role == "sent",
                is_draft="D" in ready.flags or ready.folder.role == "drafts",
            )
        )
    return items


def _counted(summary: ImportSummary, parsed: ParsedMessage) -> None:
    summary.imported += 1
    summary.malformed += 1 if parsed.defects else 0
    summary.attachments += len(parsed.attachments)


def _failed(summary: ImportSummary, exc: Exception) -> None:
    summary.failed += 1
    print(f"warning: could not import a message: {exc!r}", file=sys.stderr)


# ------------------------------------------------------------------------------ CLI


def cmd_import(args: argparse.Namespace) -> None:
    from nylas_engine.cli import _open
    from nylas_engine.store.accounts import find_by_email, find_by_public_id

    path = Path(args.path).expanduser()
    if not path.exists():
        raise SystemExit(f"nylas-engine import: no such file or directory: {path}")
    ctx = _open(args)
    with ctx.db.session() as session:
        account = find_by_public_id(session, args.account) or find_by_email(
            session, args.account.lower()
        )
    if account is None:
        raise SystemExit(
            f"nylas-engine import: no account {args.account!r} "
            "(give an account id or email address; see `nylas-engine accounts list`)"
        )
    try:
        if sys.stderr.isatty() and not args.json:
            summary = _import_with_bar(ctx, account, path)
        else:
            summary = import_path(ctx, account, path)
    except ImportFailed as exc:
        raise SystemExit(f"nylas-engine import: {exc}") from None
    if args.json:
        print(json.dumps(summary.as_dict()))
    else:
        print(summary.line())


def _import_with_bar(ctx: EngineContext, account: Account, path: Path) -> ImportSummary:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        transient=True,
    ) as bar:
        task = bar.add_task(f"Importing into {account.email_address}", total=None)
        return import_path(
            ctx, account, path, lambda done, total: bar.update(task, completed=done, total=total)
        )
