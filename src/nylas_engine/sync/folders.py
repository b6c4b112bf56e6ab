"""The account's IMAP folders as categories: roles from SPECIAL-USE, else from well-known names.

A remote folder is matched to a category by its IMAP path (`remote_name`). A new account
already has local standard folders (Inbox, Sent, ...) without a remote path: the first remote
folder with that role claims it, so ids handed out before the first sync stay valid.

Names (RFC 2342 NAMESPACE): the API shows a folder's path with `/` between levels, without
the server's personal namespace prefix. Cyrus, Courier and many hosted servers keep every
folder under the inbox (`NAMESPACE (("INBOX." "."))`): `INBOX.Archive` is shown as
`Archive`, and a folder created through the API as `Projects/2024` is created as
`INBOX.Projects.2024`. `Namespace` is that one mapping, both ways; a server without the
NAMESPACE extension has an empty prefix and the separator LIST reports.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from imapclient import IMAPClient
from imapclient.imap_utf7 import decode as decode_utf7
from imapclient.response_parser import parse_response
from sqlalchemy.orm import Session

from nylas_engine.store import imap_folders
from nylas_engine.store.categories import role_for_name
from nylas_engine.store.mail import category_kind
from nylas_engine.store.models import Account, Category, now

SPECIAL_USE_ROLES = {
    b"\\sent": "sent",
    b"\\drafts": "drafts",
    b"\\trash": "trash",
    b"\\junk": "spam",
    b"\\archive": "archive",
    b"\\all": "all",
    b"\\important": "important",  # RFC 8457; Gmail's [Gmail]/Important
    b"\\flagged": "starred",  # Gmail's [Gmail]/Starred
}
# Gmail's system folders live under one of these; the API shows them without it.
GMAIL_PREFIXES = ("[Gmail]/", "[Google Mail]/")
# Synced first, in this order, so the inbox is usable early; other folders follow by name.
ROLE_ORDER = ["inbox", "sent", "drafts", "archive"]
SKIP_FLAGS = {b"\\noselect", b"\\nonexistent"}


@dataclass(frozen=True)
class Namespace:
    """Where the account's own folders live on the server: the personal namespace's prefix
    (`""`, or `INBOX.` on Cyrus) and hierarchy separator (None: a flat server)."""

    prefix: str = ""
    delimiter: str | None = "/"

    def display_name(self, remote_name: str, role: str | None = None) -> str:
        """The name the API shows for a folder: no prefix, `/` between levels."""
        if role == "inbox":
            return "Inbox"
        name = remote_name
        if self.prefix and name.startswith(self.prefix) and len(name) > len(self.prefix):
            name = name[len(self.prefix) :]
        if self.delimiter and self.delimiter != "/":
            name = name.replace(self.delimiter, "/")
        for gmail in GMAIL_PREFIXES:
            if name.startswith(gmail) and len(name) > len(gmail):
                return name[len(gmail) :]
        return name

    def remote_name(self, display_name: str) -> str:
        """The IMAP path of a folder the API names `display_name` (for CREATE and RENAME)."""
        name = display_name.replace("/", self.delimiter) if self.delimiter else display_name
        return self.prefix + name


def send_namespace(client: IMAPClient) -> str | None:
    """Send NAMESPACE without waiting for its reply, where the server has it: its tag, for
    `personal_namespace` to read the reply once the commands sent after it have theirs (one
    round trip for them all on a new connection)."""
    if b"NAMESPACE" not in set(client.capabilities()):
        return None
    tag: str = client._imap._command("NAMESPACE")
    return tag


def personal_namespace(client: IMAPClient, sent: str | None = None) -> Namespace:
    """The account's personal namespace as the server announces it (RFC 2342), asked now or
    by `send_namespace` (its tag `sent`), else an empty prefix and the separator of the
    first folder LIST shows (`/` if it shows none)."""
    personal = None
    if sent is not None:
        imap = client._imap
        typ, data = imap._command_complete("NAMESPACE", sent)
        client._checkok("namespace", typ, data)
        typ, data = imap._untagged_response(typ, data, "NAMESPACE")
        if data and data[0] is not None:  # (personal, other, shared), each NIL or pairs
            personal = [
                (decode_utf7(prefix) if client.folder_encode else prefix, delimiter)
                for prefix, delimiter in parse_response(data)[0] or ()
            ]  # as imapclient's `namespace` reads them
    elif b"NAMESPACE" in set(client.capabilities()):
        personal = client.namespace().personal
    if personal:
        prefix, delimiter = personal[0]
        return Namespace(_text(prefix), _text(delimiter) if delimiter else None)
    delimiter = next((_text(d) for _, d, _ in client.list_folders() if d), "/")
    return Namespace("", delimiter)


@dataclass(frozen=True)
class RemoteFolder:
    name: str  # the IMAP path, as LIST returned it (imapclient decodes modified UTF-7)
    delimiter: str | None
    role: str | None
    prefix: str = ""  # the personal namespace's (see `Namespace`)

    @property
    def display_name(self) -> str:
        return Namespace(self.prefix, self.delimiter).display_name(self.name, self.role)


def role_for(name: str, flags: Iterable[bytes], delimiter: str | None) -> str | None:
    for flag in flags:
        if role := SPECIAL_USE_ROLES.get(flag.lower()):
            return role
    if name.upper() == "INBOX":
        return "inbox"
    leaf = name.rsplit(delimiter, 1)[-1] if delimiter else name
    # "[Gmail]/Sent Mail" style and top-level "Sent" both count; a nested "Work/Sent" does not.
    if leaf == name or name.startswith("[") or name.upper().startswith("INBOX"):
        return role_for_name(leaf)
    return None


def list_remote_folders(
    client: IMAPClient,
    namespace: Namespace | None = None,
    listed: Sequence[tuple[tuple[bytes, ...], bytes | str | None, bytes | str]] | None = None,
) -> list[RemoteFolder]:
    """Selectable folders, roles decided, each role given to one folder only, sync order.
    Names are shown without the `namespace` prefix (asked of the server if not given).
    `listed`: LIST's reply as imapclient gives it, where the caller has it already."""
    if namespace is None:
        namespace = personal_namespace(client)
    folders: list[RemoteFolder] = []
    taken: set[str] = set()
    listed = list(client.list_folders() if listed is None else listed)
    # SPECIAL-USE flags win over names: give out flagged roles first.
    listed.sort(key=lambda item: not any(f.lower() in SPECIAL_USE_ROLES for f in item[0]))
    for flags, delimiter, name in listed:
        if any(f.lower() in SKIP_FLAGS for f in flags):
            continue
        sep = _text(delimiter) if delimiter else None
        name = _text(name)
        role = role_for(name, flags, sep)
        if role in taken:
            role = None
        if role:
            taken.add(role)
        folders.append(RemoteFolder(name, sep, role, namespace.prefix))

    def order(folder: RemoteFolder) -> tuple[int, str]:
        rank = ROLE_ORDER.index(folder.role) if folder.role in ROLE_ORDER else len(ROLE_ORDER)
        return rank, folder.name.lower()

    return sorted(folders, key=order)


def match_folders(
    session: Session, account: Account, remote: list[RemoteFolder]
) -> tuple[list[tuple[RemoteFolder, Category]], list[Category]]:
    """Pair each remote folder with a category (claiming or creating one). A category new to
    its folder takes the folder's name. One already on it keeps its own: if that differs
    from the server's, it was renamed through the API and the write-back renames the folder
    (`folder_writeback.plan`), tried again while the server refuses; a pass that runs in
    between must not take the server's name back. The inbox is always "Inbox".

    Returns the pairs in sync order, and the synced categories whose folder is gone from the
    server (the caller removes them once the other folders are synced, so messages that moved
    are found in their new folder rather than deleted and re-created).
    """
    categories = imap_folders.live(session, account)
    # Folders deleted through the API but not yet on the server must not come back.
    pending_delete = imap_folders.pending_delete_names(session, account)
    remote = [f for f in remote if f.name not in pending_delete]
    by_remote = {c.remote_name: c for c in categories if c.remote_name is not None}
    unclaimed = [c for c in categories if c.remote_name is None]
    pairs: list[tuple[RemoteFolder, Category]] = []
    for folder in remote:
        category = by_remote.pop(folder.name, None)
        named = category is not None and folder.role != "inbox"
        if category is None:
            category = _claim(unclaimed, folder)
        if category is None:
            category = Category(account_id=account.id, type=category_kind(account), display_name="")
            session.add(category)
        category.remote_name = folder.name
        if category.display_name != folder.display_name and not named:
            category.display_name = folder.display_name
        if folder.role and category.name != folder.role:
            category.name = folder.role
        pairs.append((folder, category))
    session.flush()
    return pairs, list(by_remote.values())


def _claim(unclaimed: list[Category], folder: RemoteFolder) -> Category | None:
    for category in unclaimed:
        if (folder.role and category.name == folder.role) or (
            category.display_name == folder.display_name and category.name in (None, folder.role)
        ):
            unclaimed.remove(category)
            return category
    return None


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def remove_category(session: Session, category: Category) -> None:
    """The folder is gone from the server: soft-delete it (delta reports the deletion)."""
    category.deleted_at = now()
    category.remote_name = None
