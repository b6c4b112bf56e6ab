"""The floor of an initial sync written in Python: how fast the least a sync must do can go.

    python bench/sync_floor.py HOST PORT USER PASSWORD DIR

bench/sync.py runs this as the peer "floor" (when `fast_mail_parser` is installed:
`pip install fast-mail-parser`, Python >= 3.11), alternating with the engine, mbsync and
offlineimap, to show where the engine's time goes beyond what any Python sync must spend.

One process: stdlib imaplib FETCHes each folder newest first in batches of 500; each
message is parsed by fast_mail_parser (Rust), the body's text taken without an HTML parser,
and a row, a full-text (FTS5) row and a UID row are written with plain sqlite3 (WAL,
synchronous=NORMAL, as the engine's), the raw message into a blob pack like the engine's.
What it leaves out of the engine's work: threading, thread rows, files, categories, the
delta log, the stdlib-equal parse (RFC 2047 as the stdlib decodes it, the charset fixes,
HTML to text), SQLAlchemy. So it is a floor, not a competitor: its results are not the
engine's.
"""

from __future__ import annotations

import hashlib
import imaplib
import json
import os
import re
import sqlite3
import sys
from pathlib import Path

import fast_mail_parser  # type: ignore[import-not-found]

FOLDERS = ("INBOX", "Archive", "Sent")
BATCH = 500
_UID = re.compile(rb"UID (\d+)")
_TAG = re.compile(r"<[^>]*>")


def main(host: str, port: int, user: str, password: str, root: Path) -> None:
    db = _open(root / "floor.db")
    db.executescript(
        """
        CREATE TABLE messages (id INTEGER PRIMARY KEY, public_id TEXT, folder INT,
            subject TEXT, from_addr TEXT, to_addr TEXT, cc_addr TEXT, date TEXT,
            message_id TEXT, body TEXT, snippet TEXT, unread INT, blob TEXT, size INT);
        CREATE INDEX ix_messages_date ON messages (folder, date);
        CREATE INDEX ix_messages_message_id ON messages (message_id);
        CREATE VIRTUAL TABLE search USING fts5(subject, body, participants);
        CREATE TABLE uids (folder INT, uid INT, message INT, flags TEXT,
            PRIMARY KEY (folder, uid));
        """
    )
    pack = _open(root / "pack.db")
    pack.execute("CREATE TABLE blobs (key TEXT PRIMARY KEY, data BLOB)")
    imap = imaplib.IMAP4(host, port)
    imap.login(user, password)
    count = 0
    for number, folder in enumerate(FOLDERS):
        imap.select(folder, readonly=True)
        found = imap.uid("SEARCH", "ALL")[1][0]
        uids = [int(u) for u in found.split()][::-1]
        for start in range(0, len(uids), BATCH):
            chunk = ",".join(map(str, uids[start : start + BATCH]))
            _, lines = imap.uid("FETCH", chunk, "(BODY.PEEK[] FLAGS)")
            rows, search, uid_rows, blobs = [], [], [], []
            for line in lines:
                if not isinstance(line, tuple):
                    continue
                head, raw = line
                uid = _UID.search(head)
                count += 1
                mail = fast_mail_parser.parse_email(raw)
                html = mail.text_html[0] if mail.text_html else ""
                text = mail.text_plain[0] if mail.text_plain else _TAG.sub(" ", html)
                key = hashlib.sha256(raw).hexdigest()
                people = json.dumps([[a.display_name, a.address] for a in mail.to])
                sender = mail.from_.address if mail.from_ else None
                rows.append(
                    (
                        count,
                        os.urandom(16).hex(),
                        number,
                        mail.subject,
                        json.dumps(sender),
                        people,
                        "[]",
                        mail.date,
                        (mail.headers.get("Message-ID") or [""])[0],
                        html or text,
                        " ".join(text[:800].split())[:191],
                        b"\\Seen" not in head,
                        key,
                        len(raw),
                    )
                )
                search.append((count, mail.subject, text, people))
                uid_rows.append((number, int(uid.group(1)) if uid else count, count, "[]"))
                blobs.append((key, raw))
            with db:
                db.executemany(f"INSERT INTO messages VALUES ({','.join('?' * 14)})", rows)
                db.executemany(
                    "INSERT INTO search (rowid, subject, body, participants) VALUES (?,?,?,?)",
                    search,
                )
                db.executemany("INSERT INTO uids VALUES (?,?,?,?)", uid_rows)
            with pack:
                pack.executemany("INSERT OR IGNORE INTO blobs VALUES (?,?)", blobs)
    imap.logout()
    print(json.dumps({"added": count}))


def _open(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    return db


if __name__ == "__main__":
    host, port, user, password, root = sys.argv[1:6]
    main(host, int(port), user, password, Path(root))
