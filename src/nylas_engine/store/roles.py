"""What kind of categories an account has, and which folder names carry a role.

Kept apart from `store.categories` (the API's folder and label rules) so the sync and the
importer can use it without loading the web framework.
"""

from __future__ import annotations

from nylas_engine.store.models import Account


def kind_of(account: Account) -> str:
    """`label` for Gmail-style accounts, `folder` for every other one."""
    return "label" if account.organization_unit == "label" else "folder"


# Folder names (lowercased) that carry a role, as mail clients and servers name them: what an
# import or an IMAP server without SPECIAL-USE says Sent or Trash with.
ROLE_NAMES = {
    "inbox": "inbox",
    "sent": "sent",
    "sent items": "sent",
    "sent mail": "sent",
    "sent messages": "sent",
    "drafts": "drafts",
    "draft": "drafts",
    "trash": "trash",
    "deleted items": "trash",
    "deleted messages": "trash",
    "bin": "trash",
    "junk": "spam",
    "junk e-mail": "spam",
    "junk email": "spam",
    "spam": "spam",
    "bulk mail": "spam",
    "archive": "archive",
    "archives": "archive",
    "all mail": "all",
}


def role_for_name(name: str) -> str | None:
    """The role a folder of this name plays (`Sent Items` -> sent), None for other names."""
    return ROLE_NAMES.get(name.strip().lower())
