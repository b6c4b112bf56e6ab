"""Gmail's labels (X-GM-LABELS) and the account's label categories, both ways.

On a Gmail account (sync/gmail.py) each user label is a folder on the server whose path is
the label's name (`Work`, `Work/2024`), and the system labels are Gmail's flags (`\\Inbox`,
`\\Sent`, ...), which the categories with those roles stand for. `\\All` (All Mail) is no
label: every message not in Trash or Spam is there. A label no category stands for (one
Gmail hides from IMAP) is kept on the UID row as reported, and shown nowhere.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from nylas_engine.store import imap_folders

# Gmail's system labels, by the role of the category that stands for each (`\\Starred`
# goes with the \\Flagged flag, `starred` on the message as well).
ROLE_LABELS = {
    "inbox": "\\Inbox",
    "starred": "\\Starred",
    "sent": "\\Sent",
    "drafts": "\\Draft",
    "important": "\\Important",
    "trash": "\\Trash",
    "spam": "\\Spam",
}
NO_LABEL_ROLES = {"all"}


@dataclass
class LabelMap:
    by_label: dict[str, int] = field(default_factory=dict)  # label -> category id
    by_category: dict[int, str] = field(default_factory=dict)  # category id -> label

    def categories(self, labels: Iterable[str] | None) -> set[int]:
        """The category ids of these labels (the ones a category stands for)."""
        return {self.by_label[label] for label in labels or () if label in self.by_label}

    def labels(self, category_ids: Iterable[int]) -> set[str]:
        """The labels of these categories (none for All Mail, nor for a local one)."""
        return {self.by_category[c] for c in category_ids if c in self.by_category}


def label_map(session: Session, account_id: int) -> LabelMap:
    """The account's live categories that have a server folder, as Gmail labels."""
    found = LabelMap()
    for category in imap_folders.on_server(session, account_id):
        if category.deleted_at is not None or category.name in NO_LABEL_ROLES:
            continue
        label = ROLE_LABELS.get(category.name or "") or category.remote_name
        if label is not None:
            found.by_label.setdefault(label, category.id)
            found.by_category[category.id] = label
    return found
