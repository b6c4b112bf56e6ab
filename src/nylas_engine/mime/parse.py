"""Turn raw RFC 822 bytes into what the store keeps: headers, a body, a snippet and files.

Mail in the wild is often broken, so nothing here raises: a header that fails to parse falls
back to its raw text, a body in an unknown or wrong charset is decoded with replacement
characters, a multipart without its boundary becomes one text part. Each problem the stdlib
parser noticed is counted in `defects`, so an import can report how much it had to guess.
"""

from __future__ import annotations

import codecs
import contextlib
import email.utils
import html
import re
import time
import unicodedata
from dataclasses import dataclass, field
from email import _encoded_words, policy  # type: ignore[attr-defined]
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import Message
from email.parser import BytesParser
from typing import Any

from nylas_engine.mime.html_text import html_to_text
from nylas_engine.mime.tree import build_tree

SNIPPET_LENGTH = 191
MAX_HEADER_LENGTH = 998  # the longest line RFC 5322 allows; the store's column width
_MAX_DEPTH = 40  # deeper MIME nesting is treated as opaque data, not walked

Participant = dict[str, str]


class _CachedHeaders(HeaderRegistry):
    """The default header factory, remembering what it made: the registry builds a new header
    class on every call, and the same From/To values recur across a mailbox. Header objects
    are immutable, so one can be handed out many times.

    Only the few headers the store keeps go through it (see `_Headers`): the MIME tree is parsed
    with the compat32 policy, whose plain-string headers cost nothing to read, since the walk
    asks each part for its content type several times."""

    LIMIT = 512  # entries; the cache starts over when full (unique values don't pile up)

    def __init__(self) -> None:
        super().__init__()
        self._made: dict[tuple[str, str], BaseHeader] = {}

    def __call__(self, name: str, value: str) -> BaseHeader:
        key = (name, value)
        header = self._made.get(key)
        if header is None:
            if len(self._made) >= self.LIMIT:
                self._made.clear()
            header = self._made[key] = super().__call__(name, value)
        return header


_POLICY = policy.default.clone(header_factory=_CachedHeaders())


@dataclass
class ParsedAttachment:
    """A part that becomes a file: an attachment, or an inline image the HTML refers to."""

    filename: str | None
    content_type: str
    data: bytes
    content_id: str | None = None
    disposition: str = "attachment"  # attachment | inline
    # Set once `data` is in the blob store (see store/prepare.py); `data` is then dropped.
    sha256: str | None = None
    size: int = 0


@dataclass
class ParsedMessage:
    subject: str = ""
    from_: list[Participant] = field(default_factory=list)
    to: list[Participant] = field(default_factory=list)
    cc: list[Participant] = field(default_factory=list)
    bcc: list[Participant] = field(default_factory=list)
    reply_to: list[Participant] = field(default_factory=list)
    date: int = 0
    message_id: str | None = None
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    body: str = ""
    text: str = ""  # the body as plain text (what the snippet and the search index read)
    snippet: str = ""
    attachments: list[ParsedAttachment] = field(default_factory=list)
    calendar_parts: list[str] = field(default_factory=list)
    defects: int = 0
    # Set once the raw bytes are in the blob store (see store/prepare.py).
    raw_sha256: str | None = None
    raw_size: int = 0


def parse_message(raw: bytes, *, fallback_date: int | None = None) -> ParsedMessage:
    """Parse `raw` as well as it parses; never raises on malformed input.

    `fallback_date` is used when the Date header is missing or unreadable (an importer can
    pass the mbox From_ line or the Maildir delivery time); the default is now.
    """
    parsed = ParsedMessage()
    try:
        # The fast tree where it is sure to be the stdlib's (see mime/tree.py), else the stdlib.
        msg = build_tree(raw) or BytesParser(policy=policy.compat32).parsebytes(raw)
    except Exception:  # the parser is lenient; this is a last line of defence
        parsed.defects = 1
        parsed.date = fallback_date or int(time.time())
        parsed.text = _decode(raw, None)
        parsed.body = text_to_html(parsed.text)
        parsed.snippet = make_snippet(parsed.text)
        return parsed

    headers = _Headers(msg)
    parsed.subject = _one_line(headers.text("Subject") or "")
    parsed.from_ = headers.addresses("From")
    parsed.to = headers.addresses("To")
    parsed.cc = headers.addresses("Cc")
    parsed.bcc = headers.addresses("Bcc")
    parsed.reply_to = headers.addresses("Reply-To")
    parsed.date = headers.date("Date") or fallback_date or int(time.time())
    parsed.message_id = _first_msgid(headers.raw("Message-ID"))
    parsed.in_reply_to = _first_msgid(headers.raw("In-Reply-To"))
    parsed.references = _msgids(headers.raw("References"))

    walker = _BodyWalker()
    walker.walk(msg, 0)
    walker.named_text_as_body()
    html_body = "".join(walker.html_parts)
    text_body = "\n".join(walker.text_parts)
    if html_body.strip():
        parsed.body = html_body
        parsed.text = html_to_text(html_body)
    else:
        parsed.body = text_to_html(text_body) if text_body else ""
        parsed.text = text_body
    parsed.snippet = make_snippet(parsed.text)
    parsed.attachments = walker.attachments
    parsed.calendar_parts = walker.calendar_parts
    parsed.defects = headers.defects + walker.defects
    return parsed


# ------------------------------------------------------------------------------ headers


_KEPT = frozenset(
    {"subject", "from", "to", "cc", "bcc", "reply-to", "date"}
    | {"message-id", "in-reply-to", "references"}
)


class _Headers:
    """Header access that survives what the stdlib's structured headers choke on (for the
    headers in `_KEPT`, what `parse_message` reads)."""

    def __init__(self, msg: Message) -> None:
        self.defects = 0
        self._raw: dict[str, str] = {}
        try:
            items = list(msg.raw_items())
        except Exception:
            items = []
        for name, value in items:
            key = str(name).lower()
            # The first occurrence wins, as readers show it; only the headers the store
            # keeps are unfolded and repaired (not Received, DKIM-Signature, ...).
            if key in _KEPT and key not in self._raw:
                self._raw[key] = _repair(_unfold(str(value))).replace("\x00", "")

    def _structured(self, name: str) -> Any:
        value = self._raw.get(name.lower())
        if value is None:
            return None
        try:
            header = _POLICY.header_factory(name, value)
            self.defects += len(header.defects)
            return header
        except Exception:
            self.defects += 1
            return None

    def raw(self, name: str) -> str | None:
        """The unfolded value as it came: for headers with no encoded words (message ids)."""
        return self._raw.get(name.lower())

    def text(self, name: str) -> str | None:
        """An unstructured header's text, RFC 2047 encoded words decoded."""
        value = self._raw.get(name.lower())
        if value is None or "=?" not in value:
            return value
        simple = simple_text(value)
        if simple is not None:  # what the registry makes of it, with no defect
            return simple
        header = self._structured(name)
        return _repair(str(header)) if header is not None else value

    def addresses(self, name: str) -> list[Participant]:
        value = self._raw.get(name.lower())
        if value is None:
            return []
        simple = simple_addresses(value)
        if simple is not None:  # what the general path below makes of these, with no defect
            return [{"name": display, "email": addr.lower()} for display, addr in simple]
        header = self._structured(name)
        found: list[tuple[str, str]] = []
        try:
            found = [(a.display_name, a.addr_spec) for a in header.addresses]
            # Only these flaws in an otherwise well-formed header keep an address that has
            # no domain or is empty; elsewhere such a "local part" is debris of junk.
            as_written = all(str(d) in _TOLERATED_DEFECTS for d in header.defects)
        except Exception:
            found = email.utils.getaddresses([value])
            as_written = False
        people: list[Participant] = []
        for display, addr in found:
            addr = _repair(addr).strip()
            if inner := _ANGLE_ADDR.search(addr):  # `"broken <a@b>"` parsed as one local part
                addr = inner.group(1)
            if addr == "<>" and as_written:
                addr = ""  # the null address (a bounce's sender): kept, as the server has it
            else:
                addr = addr.strip("<>").strip()
                # An address without a domain (`From: foo`, local mail) is kept as it is;
                # what is neither that nor an address is junk.
                if "@" not in addr and not (as_written and _LOCAL_PART.fullmatch(addr)):
                    self.defects += 1
                    continue
            people.append({"name": _one_line(_repair(display or "")), "email": addr.lower()})
        return people

    def date(self, name: str) -> int | None:
        value = self._raw.get(name.lower())
        if not value:
            return None
        return parse_date(value)


# The plainest address lists, as most mail writes them: `Name Words <local@domain>` or
# `local@domain`, comma-separated, in ASCII, the name's words atoms or RFC 2047 encoded
# words, with nothing RFC 5322 would quote, comment or group (`simple_addresses`).
_ATOM = r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+"
_ADDR_SPEC = rf"{_ATOM}(?:\.{_ATOM})*@{_ATOM}(?:\.{_ATOM})*"
_SIMPLE_MAILBOX = re.compile(
    rf"[ \t]*(?:((?:{_ATOM}[ \t]+)*{_ATOM})[ \t]*<({_ADDR_SPEC})>"  # Name Words <addr>
    rf"|<({_ADDR_SPEC})>|({_ADDR_SPEC}))[ \t]*"  # <addr>, or addr
)
_ENCODED_WORD = re.compile(r"=\?[^?]+\?[bBqQ]\?[^?]*\?=")


def simple_addresses(value: str) -> list[tuple[str, str]] | None:
    """(display name, address) of each mailbox in an address header's value, as the stdlib's
    header registry reads them (`Address.display_name`, `.addr_spec`), where the value is a
    list of plain mailboxes that it reads without a defect; None for anything else (quotes,
    comments, groups, 8-bit text, a missing domain, an empty item, a period in a name, an
    encoded word it would repair), which goes to the registry. Its parse of a value costs
    ~100 us; the same values recur in a mailbox, but across a real one most are new.
    tests/engine/test_mime_tree.py compares the two on random values."""
    if not value.isascii():
        return None
    found = []
    for item in value.split(","):
        mailbox = _SIMPLE_MAILBOX.fullmatch(item)
        if mailbox is None:
            return None
        words, angled, bare_angled, bare = mailbox.groups()
        addr = angled or bare_angled or bare
        if "=?" in addr:
            return None
        if words is not None and words.endswith("?=") and item[mailbox.end(1)] == "<":
            return None  # an encoded word right before `<`: the registry notes a defect
        name = _display_name(words) if words is not None else ""
        if name is None:
            return None
        found.append((name, addr))
    return found


_BLANKS = re.compile(r"([ \t]+)")
_CONTROLS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def simple_text(value: str) -> str | None:
    """An unstructured header's text (a Subject) as the header registry decodes it, where
    the value is ASCII words and RFC 2047 encoded words between blanks, each encoded word
    one the registry decodes without a defect: the encoded words decoded, the blanks between
    two of them dropped, all others kept. None for anything else (an encoded word run into
    other text or holding a blank, 8-bit text, control characters), which goes to the
    registry. tests/engine/test_mime_tree.py compares the two on random values."""
    if not value.isascii() or _CONTROLS.search(value):
        return None
    out = []
    blank = ""
    after_encoded = False
    for index, piece in enumerate(_BLANKS.split(value)):
        if index % 2:
            blank = piece
            continue
        encoded = "=?" in piece
        text = _decoded_word(piece) if encoded else piece
        if text is None:
            return None
        if not (encoded and after_encoded):
            out.append(blank)
        out.append(text)
        after_encoded = encoded
    return "".join(out)


def _display_name(words: str) -> str | None:
    """A phrase of atoms and encoded words as the registry reads it: each encoded word
    decoded, the words joined by one space (between two encoded words too)."""
    out = []
    for word in words.split():
        text = _decoded_word(word) if "=?" in word else word
        if text is None:
            return None
        out.append(text)
    return " ".join(out)


def _decoded_word(word: str) -> str | None:
    """An RFC 2047 encoded word decoded by the registry's own decoder; None for a word that
    is not one whole encoded word, or that it decodes only with a defect."""
    if not _ENCODED_WORD.fullmatch(word):
        return None
    text, _charset, _lang, defects = _encoded_words.decode(word)
    return None if defects else str(text)


def parse_date(value: str) -> int | None:
    """Unix UTC seconds for an RFC 5322 (or asctime) date, None when it can't be read."""
    try:
        parts = email.utils.parsedate_tz(value)
        if parts is None:
            return None
        ts = int(email.utils.mktime_tz(parts))
    except (TypeError, ValueError, OverflowError, IndexError):
        return None
    if ts < 0 or ts > 253402300799:  # before 1970 or after year 9999: a broken clock
        return None
    return ts


_FOLDING = re.compile(r"\r?\n[ \t]*")
_MSGID = re.compile(r"<[^<>\s]+>")
_SURROGATES = re.compile("[\udc80-\udcff]")
_ANGLE_ADDR = re.compile(r"<([^<>\s]+@[^<>\s]+)>")
_TOLERATED_DEFECTS = {"addr-spec local part with no domain", "null addr-spec in angle-addr"}
_LOCAL_PART = re.compile(r"[^\s<>()\[\]\\,;:@\"]+")  # an atom-like local part, no domain


def _unfold(value: str) -> str:
    return _FOLDING.sub(" ", value) if "\n" in value else value  # most are one line


def _one_line(value: str) -> str:
    return " ".join(value.split())


def _repair(value: str) -> str:
    """Raw 8-bit bytes in a header arrive as surrogate escapes: decode them as UTF-8,
    else as Windows-1252 (what the sender most likely meant)."""
    if not _SURROGATES.search(value):
        return value
    data = value.encode("utf-8", "surrogateescape")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", "replace")


def _first_msgid(value: str | None) -> str | None:
    if not value:
        return None
    ids = _msgids(value)
    return ids[0] if ids else value.strip()[:MAX_HEADER_LENGTH] or None


def _msgids(value: str | None) -> list[str]:
    if not value:
        return []
    ids = _MSGID.findall(value) or value.split()
    return [i[:MAX_HEADER_LENGTH] for i in ids]


# ------------------------------------------------------------------------------ parts


class _BodyWalker:
    """Sorts leaf parts into body text, files and calendar payloads."""

    def __init__(self) -> None:
        self.html_parts: list[str] = []
        self.text_parts: list[str] = []
        self.attachments: list[ParsedAttachment] = []
        self.calendar_parts: list[str] = []
        # Text parts set aside as files for their filename: (content type, text, the file,
        # whether it is a real attachment, i.e. has `Content-Disposition: attachment`).
        self.named_text: list[tuple[str, str, ParsedAttachment, bool]] = []
        self.defects = 0

    def walk(self, part: Message, depth: int) -> None:
        self.defects += len(getattr(part, "defects", ()) or ())
        ctype = _content_type(part)
        if ctype == "message/rfc822" or (part.is_multipart() and depth >= _MAX_DEPTH):
            self._attach_message(part)
            return
        if part.is_multipart():
            payload = part.get_payload()
            children = payload if isinstance(payload, list) else []
            if ctype == "multipart/alternative":
                children = _best_alternative(children)
            for child in children:
                if isinstance(child, Message):
                    self.walk(child, depth + 1)
            return
        self._leaf(part, ctype)

    def _leaf(self, part: Message, ctype: str) -> None:
        disposition = _disposition(part)
        filename = sanitize_filename(_filename(part))
        content_id = _content_id(part)
        data = _payload_bytes(part)
        if ctype.startswith("multipart/"):  # a multipart whose boundary never came: keep it as text
            ctype = "text/plain"
        if ctype == "text/calendar":
            self.calendar_parts.append(_decode(data, part.get_content_charset()))
            if disposition != "attachment":
                return  # an invite: shown as an event, not as a file
        if ctype.startswith("text/") and disposition != "attachment" and not filename:
            text = _decode(data, part.get_content_charset())
            (self.html_parts if ctype == "text/html" else self.text_parts).append(text)
            return
        if disposition == "attachment":
            kind = "attachment"
        elif disposition == "inline" or content_id:
            kind = "inline"
        elif filename:
            kind = "attachment"  # a named part without a disposition: an old-style attachment
        else:
            return  # an anonymous part without a disposition: nothing a user could open
        attachment = ParsedAttachment(filename, ctype, data, content_id, kind)
        self.attachments.append(attachment)
        if filename and ctype in ("text/plain", "text/html"):
            text = _decode(data, part.get_content_charset())
            self.named_text.append((ctype, text, attachment, disposition == "attachment"))

    def named_text_as_body(self) -> None:
        """A message whose only text parts carry a filename shows them as its body, as mail
        clients do; each stays a file only if it is a real attachment."""
        if self.html_parts or self.text_parts or not self.named_text:
            return
        dropped = set()
        for ctype, text, attachment, real in self.named_text:
            (self.html_parts if ctype == "text/html" else self.text_parts).append(text)
            if not real:
                dropped.add(id(attachment))
        self.attachments = [a for a in self.attachments if id(a) not in dropped]

    def _attach_message(self, part: Message) -> None:
        try:
            inner = part.get_payload(0) if part.is_multipart() else None
            data = inner.as_bytes() if isinstance(inner, Message) else part.as_bytes()
        except Exception:
            self.defects += 1
            data = b""
        name = _filename(part)
        if not name and isinstance(inner, Message):
            subject = _repair(str(inner.get("Subject", "") or ""))
            name = f"{_one_line(subject)[:100] or 'message'}.eml"
        self.attachments.append(
            ParsedAttachment(
                sanitize_filename(name) or "message.eml",
                "message/rfc822",
                data,
                _content_id(part),
                "attachment",
            )
        )


def _best_alternative(children: list[Any]) -> list[Any]:
    """The richest alternative we can show (HTML, or a multipart holding it, else text),
    plus any sibling that is neither text nor multipart (a calendar invite, a stray file)."""
    parts = [c for c in children if isinstance(c, Message)]
    if not parts:
        return []

    def rank(part: Message) -> int:
        ctype = _content_type(part)
        if ctype == "text/html" or part.is_multipart():
            return 2
        return 1 if ctype == "text/plain" else 0

    best = max(reversed(parts), key=rank)  # alternatives go from plainest to richest
    extras = [
        p
        for p in parts
        if p is not best
        and rank(p) == 0
        and (_content_type(p) == "text/calendar" or not _content_type(p).startswith("text/"))
    ]
    return [best, *extras]


def _content_type(part: Message) -> str:
    try:
        return part.get_content_type().lower()
    except Exception:
        return "application/octet-stream"


def _disposition(part: Message) -> str | None:
    try:
        value = part.get_content_disposition()
    except Exception:
        return None
    return value.lower() if value else None


def _filename(part: Message) -> str | None:
    try:
        name = part.get_filename()
    except Exception:
        name = None
    if not name:
        return None
    name = _repair(str(name))
    if "=?" in name:  # RFC 2047 inside a parameter: wrong, but what many mailers send
        with contextlib.suppress(Exception):
            name = str(policy.default.header_factory("X-Filename", name))
    return _repair(name)


def _content_id(part: Message) -> str | None:
    value = part.get("Content-ID")
    if value is None:
        return None
    cid = _repair(str(value)).strip().strip("<>").strip()
    return cid[:MAX_HEADER_LENGTH] or None


def _payload_bytes(part: Message) -> bytes:
    try:
        data = part.get_payload(decode=True)
    except Exception:
        data = None
    if isinstance(data, bytes):
        return data
    raw = part.get_payload()
    if isinstance(raw, str):
        return raw.encode("utf-8", "surrogateescape")
    return b""


_CHARSET_ALIASES = {
    "iso-8859-1": "cp1252",  # what browsers do: senders who say latin-1 mean Windows-1252
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "us-ascii": "utf-8",
    "ascii": "utf-8",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "ks_c_5601-1987": "cp949",
    "x-sjis": "shift_jis",
}


def _decode(data: bytes, charset: str | None) -> str:
    """Bytes to text in the declared charset, guessing sensibly when it is missing or wrong.
    NUL characters are dropped: they mean nothing in text, and PostgreSQL refuses them."""
    return _decode_charset(data, charset).replace("\x00", "")


def _decode_charset(data: bytes, charset: str | None) -> str:
    name = (charset or "").strip().strip('"').lower()
    name = _CHARSET_ALIASES.get(name, name)
    try:
        codec = codecs.lookup(name).name if name else None
    except (LookupError, ValueError):  # unknown, or not a name at all (a NUL in it)
        codec = None
    if codec is None or codec == "utf-8":
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return data.decode("cp1252" if codec is None else "utf-8", "replace")
    try:
        return data.decode(codec, "replace")
    except Exception:  # a codec that fails on its own terms
        return data.decode("utf-8", "replace")


# ------------------------------------------------------------------------------ text helpers


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def sanitize_filename(name: str | None, *, max_length: int = 255) -> str | None:
    """A filename safe to store and to hand back in a download header.

    Keeps only the last path component (no `/` or `\\`), drops control and format characters,
    trims dots and spaces at the ends; None when nothing is left.
    """
    if not name:
        return None
    name = _repair(str(name))
    name = re.split(r"[/\\]", name)[-1]
    name = "".join(
        " " if ch in "\t\r\n" else ch
        for ch in name
        if ch in "\t\r\n" or unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Zl", "Zp")
    )
    name = _CONTROL.sub("", name)
    name = " ".join(name.split()).strip(" .")
    if not name:
        return None
    if len(name) > max_length:
        stem, dot, ext = name.rpartition(".")
        if dot and 0 < len(ext) <= 16:
            name = stem[: max_length - len(ext) - 1] + "." + ext
        else:
            name = name[:max_length]
    return name


def make_snippet(text: str, length: int = SNIPPET_LENGTH) -> str:
    """The first `length` characters of `text` with each run of white space made one space
    (and none at the ends): `" ".join(text.split())[:length]`, read from the start of the
    text only as far as needed (a body is often hundreds of times the snippet)."""
    take = max(4 * length, 64)
    while take < len(text):
        # The start of the text joined so is the start of the whole text joined so (a word
        # the cut splits is the start of that word).
        snippet = " ".join(text[:take].split())
        if len(snippet) >= length:
            return snippet[:length]
        take *= 4
    return " ".join(text.split())[:length]


_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


def text_to_html(text: str) -> str:
    """Plain text as HTML that still reads as text: escaped, paragraphs kept, lines broken."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip("\n")
    # Escaped whole: the entities hold no white space, so the paragraphs split as before.
    paragraphs = _PARAGRAPH_BREAK.split(html.escape(text))
    return "\n".join("<p>" + p.replace("\n", "<br>\n") + "</p>" for p in paragraphs if p)
