"""A Gmail stand-in for the tests: a thin IMAP front that speaks to a real Dovecot behind it
and adds Gmail's IMAP extensions (X-GM-EXT-1), since no Gmail is reachable from here.

Everything IMAP is Dovecot's (login, LIST, SELECT, SEARCH, FETCH, STORE, CONDSTORE, IDLE, ...);
the front passes it through byte for byte, literals included, and changes only this:

* every capability list (greeting, CAPABILITY, the login's OK) gains `X-GM-EXT-1`;
* `FETCH` of `X-GM-MSGID`, `X-GM-THRID` or `X-GM-LABELS` is sent on as `FLAGS X-GUID`, and the
  reply carries Gmail's items instead: X-GM-MSGID from Dovecot's message GUID (the same in
  every folder, as Gmail's is), X-GM-LABELS and X-GM-THRID from keywords (below);
* `STORE +X-GM-LABELS` / `-X-GM-LABELS` (`.SILENT` too) is sent on as `+FLAGS` / `-FLAGS` of
  those keywords, so a label change moves the message's MODSEQ as on Gmail;
* the keywords are taken out of every FLAGS list a client sees.

Keywords on Dovecot hold what Gmail would know: `gl_<hex of the label>` for each label
(`\\Inbox`, `Work`), `gt_<n>` for the thread (X-GM-THRID `n`; without one, a message is a
thread of its own). The folders are Gmail's (`[Gmail]/All Mail` with `\\All`,
`[Gmail]/Important` with `\\Important`, ...; Dovecot gives SPECIAL-USE), with the capability
list Gmail offers (CONDSTORE, no QRESYNC, no NOTIFY). `GmailFront.add` files a message as
Gmail would show it: in All Mail with its labels, and a copy in each label's folder.

What it does not play: Gmail keeps a label's folder and the label in step (here a label
STOREd later does not copy the message into that label's folder, nor does a COPY into a
folder add the label), X-GM-RAW search, and a plain `STORE X-GM-LABELS` that replaces all
labels (refused with BAD). FETCH item lists with nested parentheses are passed on unchanged.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import socket
import socketserver
import threading
from collections.abc import Iterable
from typing import Any

from dovecot import Dovecot
from imapclient import IMAPClient
from imapclient.imap_utf7 import decode as decode_utf7
from imapclient.imap_utf7 import encode as encode_utf7
from imapclient.response_parser import parse_response

from nylas.testing import free_port

ALL_MAIL = "[Gmail]/All Mail"
FOLDERS = {
    ALL_MAIL: "\\All",
    "[Gmail]/Drafts": "\\Drafts",
    "[Gmail]/Important": "\\Important",
    "[Gmail]/Sent Mail": "\\Sent",
    "[Gmail]/Spam": "\\Junk",
    "[Gmail]/Starred": "\\Flagged",
    "[Gmail]/Trash": "\\Trash",
}
# Gmail's list (developers.google.com/gmail/imap/imap-extensions), as Dovecot can offer it.
CAPABILITIES = (
    "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ SPECIAL-USE NAMESPACE UIDPLUS "
    "MOVE CONDSTORE LIST-STATUS CHILDREN UNSELECT ESEARCH"
)
GM_ITEMS = ("X-GM-MSGID", "X-GM-THRID", "X-GM-LABELS")
# The label folders of system labels (a copy is filed there by `add`).
SYSTEM_FOLDERS = {
    "\\Inbox": "INBOX",
    "\\Important": "[Gmail]/Important",
    "\\Sent": "[Gmail]/Sent Mail",
}

_LITERAL = re.compile(rb"\{(\d+)\+?\}\r\n$")
_FETCH_COMMAND = re.compile(
    rb"^(\S+ (?:UID )?FETCH \S+ )(\(([^()]*)\)|[^ ()\r\n]+)(.*)$", re.I | re.S
)
_STORE_COMMAND = re.compile(
    rb"^(\S+ (?:UID )?STORE \S+ (?:\([^)]*\) )?)([+-]?)X-GM-LABELS(\.SILENT)? \((.*)\)\r\n$",
    re.I | re.S,
)
_FLAGS = re.compile(rb"FLAGS \(([^)]*)\)")
_GUID = re.compile(rb" ?X-GUID (\S+?)(?=[ )])")
_KEYWORD = re.compile(rb"\s*\bg[lt]_[0-9a-f]+")


FETCHING = "(a FETCH)"  # in a session's wants: the command in flight is a FETCH


def label_keyword(label: str) -> str:
    return "gl_" + label.encode().hex()


def thread_keyword(thrid: int) -> str:
    return f"gt_{thrid}"


def msgid_of(guid: bytes) -> int:
    """X-GM-MSGID for a Dovecot message GUID (a 60-bit number, as stable as the GUID)."""
    return int(hashlib.sha256(guid).hexdigest()[:15], 16)


def _quote(label: str) -> bytes:
    text = encode_utf7(label)
    return b'"' + text.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def _gmail_items(wanted: set[str], flags: list[bytes], guid: bytes | None) -> bytes:
    """`X-GM-MSGID n X-GM-THRID n X-GM-LABELS (...)`, as asked, from keywords and the GUID."""
    labels = sorted(bytes.fromhex(f[3:].decode()).decode() for f in flags if f.startswith(b"gl_"))
    threads = [int(f[3:]) for f in flags if f.startswith(b"gt_")]
    msgid = msgid_of(guid) if guid else 0
    parts = []
    if "X-GM-MSGID" in wanted:
        parts.append(b"X-GM-MSGID %d" % msgid)
    if "X-GM-THRID" in wanted:
        parts.append(b"X-GM-THRID %d" % (threads[0] if threads else msgid))
    if "X-GM-LABELS" in wanted:
        parts.append(b"X-GM-LABELS (" + b" ".join(_quote(label) for label in labels) + b")")
    return b" ".join(parts)


class _Session:
    """One client's connection, and the front's own to Dovecot."""

    def __init__(self, client: socket.socket, backend: tuple[str, int]) -> None:
        self.client = client
        self.server = socket.create_connection(backend)
        self.wants: dict[bytes, set[str]] = {}  # tag -> Gmail items its command asked for
        self.lock = threading.Lock()

    def run(self) -> None:
        upstream = threading.Thread(target=self._commands, daemon=True)
        upstream.start()
        try:
            self._replies()
        finally:
            for sock in (self.client, self.server):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    # ------------------------------------------------------------------ client -> Dovecot

    def _commands(self) -> None:
        reader = self.client.makefile("rb")
        try:
            while line := reader.readline():
                if (found := _LITERAL.search(line)) is not None:
                    # The line first: the client sends a synchronizing literal only after
                    # the server's "+" continuation (which comes back through `_replies`).
                    self.server.sendall(line)
                    self.server.sendall(reader.read(int(found.group(1))))
                    continue  # the command goes on after the literal: passed on as it is
                if b"X-GM-" in line.upper():
                    line = self._rewrite_command(line)
                    if line.startswith(b"* "):  # refused here: the reply goes to the client
                        self.client.sendall(line[2:])
                        continue
                self.server.sendall(line)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                self.server.shutdown(socket.SHUT_WR)

    def _rewrite_command(self, line: bytes) -> bytes:
        tag = line.split(b" ", 1)[0]
        if (store := _STORE_COMMAND.match(line)) is not None:
            head, sign, silent, labels = store.groups()
            if not sign:
                return b"* " + tag + b" BAD this Gmail stand-in has no STORE X-GM-LABELS\r\n"
            names = [
                decode_utf7(v) if isinstance(v, bytes) else str(v)
                for v in (parse_response([labels]) if labels.strip() else ())
            ]
            keywords = " ".join(label_keyword(name) for name in names).encode()
            self._want(tag, {"X-GM-LABELS"})
            return head + sign + b"FLAGS" + (silent or b"") + b" (" + keywords + b")\r\n"
        if (fetch := _FETCH_COMMAND.match(line)) is not None:
            head, listed, inner, rest = fetch.groups()
            items = (inner if inner is not None else listed).split()
            wanted = {i.decode().upper() for i in items if i.decode().upper() in GM_ITEMS}
            if not wanted:
                return line
            kept = [i for i in items if i.decode().upper() not in GM_ITEMS]
            for extra in (b"UID", b"FLAGS", b"X-GUID"):
                if extra not in (i.upper() for i in kept):
                    kept.append(extra)
            self._want(tag, wanted | {FETCHING})
            return head + b"(" + b" ".join(kept) + b")" + rest
        return line

    def _want(self, tag: bytes, items: set[str]) -> None:
        with self.lock:
            self.wants[tag] = items

    # ------------------------------------------------------------------ Dovecot -> client

    def _replies(self) -> None:
        reader = self.server.makefile("rb")
        while True:
            parts = self._reply(reader)
            if not parts:
                return
            self.client.sendall(self._rewrite_reply(parts))

    @staticmethod
    def _reply(reader: Any) -> list[tuple[bytes, bytes]]:
        """One response: its text pieces, each with the literal that follows it (or b"")."""
        parts: list[tuple[bytes, bytes]] = []
        while line := reader.readline():
            found = _LITERAL.search(line)
            if found is None:
                parts.append((line, b""))
                break
            parts.append((line, reader.read(int(found.group(1)))))
        return parts

    def _rewrite_reply(self, parts: list[tuple[bytes, bytes]]) -> bytes:
        first = parts[0][0]
        words = first.split(b" ", 3)
        if b"CAPABILITY" in first.upper() and b"IMAP4REV1" in first.upper():
            first = re.sub(rb"(?i)(IMAP4rev1)", rb"\1 X-GM-EXT-1", first, count=1)
            parts[0] = (first, parts[0][1])
        if len(words) > 1 and words[0] != b"*" and words[0] != b"+":
            with self.lock:  # the command is done
                self.wants.pop(words[0], None)
        elif len(words) > 2 and words[0] == b"*" and words[2].upper().startswith(b"FETCH"):
            parts = self._rewrite_fetch(parts)
        elif len(words) > 1 and words[0] == b"*" and b"FLAGS" in first.upper():
            parts[0] = (_KEYWORD.sub(b"", first), parts[0][1])
        return b"".join(text + literal for text, literal in parts)

    def _rewrite_fetch(self, parts: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        with self.lock:
            wanted = set().union(*self.wants.values()) if self.wants else set()
        flags: list[bytes] | None = None
        guid: bytes | None = None
        rewritten = []
        for text, literal in parts:
            if (found := _FLAGS.search(text)) is not None:
                flags = found.group(1).split()
                kept = b" ".join(f for f in flags if not f.startswith((b"gl_", b"gt_")))
                text = text[: found.start(1)] + kept + text[found.end(1) :]
            if (found := _GUID.search(text)) is not None:
                guid = found.group(1)
                text = text[: found.start()] + text[found.end() :]
            rewritten.append((text, literal))
        # During a FETCH, only its own replies (it asks for X-GUID): an unsolicited FETCH
        # (another session's STORE, announced mid-command) carries flags alone, and items
        # made up for it (X-GM-MSGID 0) would overwrite the real ones in the client. A
        # STORE's replies carry flags alone, and their labels come from them.
        answers_store = FETCHING not in wanted and flags is not None
        if wanted and (guid or answers_store):
            text, literal = rewritten[0]
            at = text.index(b"(") + 1
            items = _gmail_items(wanted, flags or [], guid)
            rewritten[0] = (text[:at] + items + b" " + text[at:], literal)
        return rewritten


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    backend: tuple[str, int]


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        _Session(self.request, self.server.backend).run()


class GmailFront:
    """The front on a free loopback port, before `dovecot` (one set up with Gmail's folders:
    `gmail_dovecot()`). Has `host` and `imap_port`, as a `Dovecot` does."""

    host = "127.0.0.1"

    def __init__(self, dovecot: Dovecot) -> None:
        self.dovecot = dovecot
        self.imap_port = free_port()
        self._server = _Server((self.host, self.imap_port), _Handler)
        self._server.backend = (dovecot.host, dovecot.imap_port)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> GmailFront:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def client(self, user: str, password: str) -> IMAPClient:
        """An IMAP client logged in through the front (as another Gmail client would be)."""
        client = IMAPClient(self.host, port=self.imap_port, ssl=False)
        client.login(user, password)
        return client

    def add(
        self,
        user: str,
        password: str,
        raw: bytes,
        labels: Iterable[str] = (),
        thread: int | None = None,
    ) -> int:
        """File a message as Gmail shows it: in All Mail with `labels` (and in Gmail's thread
        `thread`, else one of its own), a copy in each label's folder. Returns its X-GM-MSGID."""
        labels = list(labels)
        keywords = [label_keyword(label) for label in labels]
        if thread is not None:
            keywords.append(thread_keyword(thread))
        with self.dovecot.client(user, password) as direct:
            reply = direct.append(ALL_MAIL, raw, flags=keywords)
            uid = int(reply.split(b"]", 1)[0].split()[-1])
            direct.select_folder(ALL_MAIL)
            guid = direct.fetch([uid], ["X-GUID"])[uid][b"X-GUID"]
            for label in labels:
                folder = SYSTEM_FOLDERS.get(label, label)
                if not folder.startswith("\\"):
                    if not direct.folder_exists(folder):
                        direct.create_folder(folder)
                    direct.append(folder, raw, flags=keywords)
        return msgid_of(guid)


def gmail_dovecot() -> Dovecot:
    """A Dovecot with Gmail's folders, separator and capabilities, for a `GmailFront`."""
    return Dovecot(separator="/", special_folders=FOLDERS, capabilities=CAPABILITIES)
