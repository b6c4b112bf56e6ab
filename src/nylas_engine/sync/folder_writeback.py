"""Folders (labels, on a label account) created, renamed and deleted through the API, made
on the server: CREATE (and SUBSCRIBE), RENAME, DELETE.

Names go under the personal namespace (`folders.Namespace`): on a server that keeps every
folder under the inbox (`INBOX.` with `.`), the API's `Projects/2024` is created as
`INBOX.Projects.2024`.

Plan, execute, record: `plan` reads from the database what differs from the server (no
connection used), `execute` sends the commands (no database session open), `record` writes
the outcome in a session of its own, re-reading each folder, so an API change made in
between is kept and written back next time.

A command the server refuses (NO or BAD: a name it rejects, a permission it denies) fails
that folder change only; it is tried again a few times, then dropped and undone
(`refusals.py`): a folder never created goes away, a rename goes back to the server's name,
a deleted folder comes back. A rename waiting to be done or tried again keeps its API name
through the full passes in between (`folders.match_folders`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from imapclient import IMAPClient
from sqlalchemy.orm import Session

from nylas_engine.store import imap_folders, imap_uids
from nylas_engine.store.models import Account, Category, now
from nylas_engine.sync.folders import Namespace
from nylas_engine.sync.imap import NETWORK_ERRORS, REFUSED
from nylas_engine.sync.refusals import Refusals

log = logging.getLogger("nylas_engine.sync")


@dataclass(frozen=True)
class FolderChange:
    kind: str  # "delete", "rename" or "create" (run in that order)
    category_id: int
    current: str | None  # the folder's name on the server (None: not created yet)
    wanted: str | None  # its name once changed (None: deleted)

    @property
    def key(self) -> tuple[str, int]:
        return (self.kind, self.category_id)

    def describe(self) -> str:
        if self.kind == "create":
            return f"CREATE of folder {self.wanted!r}"
        if self.kind == "rename":
            return f"RENAME of folder {self.current!r} to {self.wanted!r}"
        return f"DELETE of folder {self.current!r}"


def plan(
    session: Session, account_id: int, namespace: Namespace, refusals: Refusals
) -> list[FolderChange]:
    """The folder changes made through the API that the server does not have yet (those
    refused and not due again yet left out)."""
    account = session.get(Account, account_id)
    if account is None:
        return []
    changes: list[FolderChange] = []
    for c in imap_folders.of_kind(session, account):
        if c.remote_name and c.deleted_at is not None:
            changes.append(FolderChange("delete", c.id, c.remote_name, None))
        elif not (c.remote_name or c.deleted_at or c.name):
            changes.append(
                FolderChange("create", c.id, None, namespace.remote_name(c.display_name))
            )
        elif (
            c.remote_name
            and c.deleted_at is None
            and c.name != "inbox"
            and c.display_name != namespace.display_name(c.remote_name, c.name)
        ):
            wanted = namespace.remote_name(c.display_name)
            changes.append(FolderChange("rename", c.id, c.remote_name, wanted))
    order = {"delete": 0, "rename": 1, "create": 2}
    changes.sort(key=lambda change: (order[change.kind], change.category_id))
    return [change for change in changes if refusals.ready(change.key)]


def execute(client: IMAPClient, changes: list[FolderChange]) -> list[tuple[FolderChange, str]]:
    """Send each change; returns each with "" if it went through, else the server's refusal
    (a broken connection raises). A folder already as wanted needs no command."""
    existing = {_text(name) for _, _, name in client.list_folders()}
    outcomes: list[tuple[FolderChange, str]] = []
    for change in changes:
        try:
            if change.kind == "delete" and change.current in existing:
                client.delete_folder(change.current)
            elif change.kind == "rename":
                old, new = change.current or "", change.wanted or ""
                subscribed = _subscribed_under(client, old)
                client.rename_folder(change.current, change.wanted)
                _move_subscriptions(client, subscribed, old, new)
            elif change.kind == "create" and change.wanted not in existing:
                client.create_folder(change.wanted)
                client.subscribe_folder(change.wanted)
        except NETWORK_ERRORS:
            raise
        except REFUSED as exc:
            outcomes.append((change, str(exc) or type(exc).__name__))
            continue
        outcomes.append((change, ""))
    return outcomes


def _subscribed_under(client: IMAPClient, folder: str) -> list[str]:
    """The subscribed names among `folder` and the folders under it (asked before a RENAME:
    afterwards Cyrus's LSUB leaves out the old names, which no longer exist); none where
    the server refuses to say."""
    try:
        listed = client.list_sub_folders()
    except NETWORK_ERRORS:
        raise
    except REFUSED:
        return []
    found = []
    for _, delimiter, name in listed:
        name, delimiter = _text(name), _text(delimiter or "")
        if name == folder or (delimiter and name.startswith(folder + delimiter)):
            found.append(name)
    return found


def _move_subscriptions(client: IMAPClient, subscribed: list[str], old: str, new: str) -> None:
    """Subscriptions are kept by name (RFC 3501): after a RENAME the old name stays
    subscribed and the new one is not (Dovecot and Cyrus both), and mail clients that show
    only subscribed folders would lose the folder. The renamed folder and the folders under
    it keep their subscriptions under their new names; the rename has stood, so a server's
    NO to one of these is let go."""
    for name in subscribed:
        try:
            client.subscribe_folder(new + name[len(old) :])
            client.unsubscribe_folder(name)
        except NETWORK_ERRORS:
            raise
        except REFUSED as exc:
            log.info("subscription of %r not moved under %r: %s", name, new, exc)


def record(
    session: Session,
    outcomes: list[tuple[FolderChange, str]],
    namespace: Namespace,
    refusals: Refusals,
) -> None:
    """Write what the server now has; count refusals, and undo the changes dropped."""
    for change, refused in outcomes:
        category = session.get(Category, change.category_id)
        if category is None:
            continue
        if refused:
            if refusals.refused(change.key, change.describe(), refused):
                _undo(category, namespace)
            continue
        refusals.done(change.key)
        if change.kind == "delete":
            category.remote_name = None
            # A deleted label may still have held copies: they went with the folder.
            imap_uids.detach(session, imap_uids.in_folder(session, category.id))
        else:
            category.remote_name = change.wanted


def _undo(category: Category, namespace: Namespace) -> None:
    if category.remote_name is None:
        category.deleted_at = now()  # never created
    elif category.deleted_at is not None:
        category.deleted_at = None  # not deleted after all
    else:
        category.display_name = namespace.display_name(category.remote_name, category.name)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
