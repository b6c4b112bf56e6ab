"""The MIME part tree of well-formed mail, built without the stdlib's feed parser.

`email.parser.BytesParser(policy=compat32)` reads a message line by line through a stack of
generators and compiles a regular expression for every multipart boundary (boundaries are
unique per message, so none is ever reused): on a typical mailbox that is two thirds of the
time `parse_message` takes. `build_tree` makes the same `email.message.Message` tree
(headers, payload strings, preamble, epilogue, default types) by finding boundary lines with
`str.find`, for the messages where that is sure to give what the feed parser would.

Invariant: `build_tree(raw)` either returns a tree equal to the feed parser's, part for
part, or None. It returns None for anything the feed parser would flag as a defect (a
missing boundary, a header line it can't read, ...) and for what it handles in ways of its
own (a lone CR as a line end, mbox `From ` lines, `multipart/digest`,
`message/delivery-status`): the caller then runs the stdlib parser, which also counts the
defects. tests/engine/test_mime_tree.py checks the equality on the CPython email test
corpus, the bench corpus and randomly damaged messages.
"""

from __future__ import annotations

import re
from email import _encoded_words, policy  # type: ignore[attr-defined]
from email.message import Message, _unquotevalue  # type: ignore[attr-defined]
from email.utils import quote, unquote
from typing import Any

# A header as the feed parser reads it: a name (its headerRE), a colon, the rest of the line
# and each continuation line (one that starts with a blank), up to the last line break.
_FIELD = re.compile(r"([\041-\071\073-\176]*):([^\n]*(?:\n[ \t][^\n]*)*)(?:\n|\Z)")
_BOUNDARY_TAIL = re.compile(r"(--)?[ \t]*(\r\n|\n)?\Z")  # after `--boundary` on its line
_LONE_CR = re.compile(rb"\r(?!\n)")  # one pass, where counting CRs and CRLFs took two
_MAX_DEPTH = 60  # deeper nesting goes to the stdlib parser
_COMPAT32 = policy.compat32
_MISSING = object()


class _Part(Message):
    """A compat32 `Message` that answers the walk's repeated header questions for less.

    `Message.get` lower-cases every header's name on each lookup, and a part's content type,
    charset, disposition, filename and transfer encoding are each looked up several times
    per message (1.3 million `lower()` calls for the bench's 10,000 messages): here the
    name is found in a table of lower-cased names (each name's first header) made once. The
    table is used only while `_headers` is the very list it was made from, of the same
    length: every way `Message` changes headers appends to that list, replaces an entry
    under the same name, or sets a new list; otherwise `Message`'s own lookup runs. Same
    results either way. The content type is remembered with the header value it was read
    from, as the parameters are (see `_get_params_preserve`)."""

    _first: dict[str, int] | None = None  # lower-cased name: index of its first header
    _first_of: list[tuple[str, str]] | None = None
    _count = 0
    _params: dict[str, tuple[object, list[tuple[str, str]]]] | None = None
    _ctype: tuple[object, str] | None = None
    _tables: dict[str, tuple[object, dict[str, Any]]] | None = None

    def get(self, name: str, failobj: object = None) -> object:  # type: ignore[override]
        headers: list[tuple[str, str]] = self._headers  # type: ignore[attr-defined]
        first = self._first
        if first is None or self._first_of is not headers or self._count != len(headers):
            return super().get(name, failobj)
        index = first.get(name.lower())
        if index is None:
            return failobj
        key, value = headers[index]
        if type(value) is str and value.isascii():
            return value  # what compat32's header_fetch_parse gives a value without surrogates
        return self.policy.header_fetch_parse(key, value)

    def get_content_type(self) -> str:
        value = self.get("content-type", _MISSING)
        if value is _MISSING:
            return self.get_default_type()
        known = self._ctype
        if known is not None and known[0] is value:
            return known[1]
        ctype = str(value).partition(";")[0].strip().lower()  # as `Message` reads it
        if ctype.count("/") != 1:
            ctype = "text/plain"
        self._ctype = (value, ctype)
        return ctype

    def _get_params_preserve(self, failobj: Any, header: str) -> Any:
        """`Message`'s parameter parse of a header, remembered with the header value it
        was made from: a leaf's Content-Type is parsed for its charset and again for a
        `name`, its Content-Disposition for the disposition and the filename. Only the
        very same value object gets the remembered parse (a changed header is parsed
        again), and as a copy, as `Message` hands out a new list each time."""
        value = self.get(header)
        key = header.lower()
        known = self._params.get(key) if self._params is not None else None
        if known is not None and known[0] is value:
            return list(known[1])
        params = plain_params(value) if type(value) is str else None
        if params is None:
            params = super()._get_params_preserve(failobj, header)  # type: ignore[misc]
        if params is failobj or value is None:
            return params
        if self._params is None:
            self._params = {}
        self._params[key] = (value, list(params))
        return params

    def get_param(
        self, param: str, failobj: Any = None, header: str = "content-type", unquote: bool = True
    ) -> Any:
        """`Message.get_param` read from a table of the header's parameters (each name's
        first, unquoted as `Message` unquotes it), made once per header value: the walk asks
        a part for its charset, filename and name, each a scan of the parameters."""
        value = self.get(header, _MISSING)
        if value is _MISSING or not unquote:
            return super().get_param(param, failobj, header, unquote)
        key = header.lower()
        known = self._tables.get(key) if self._tables is not None else None
        if known is None or known[0] is not value:
            table: dict[str, Any] = {}
            for name, raw in self._get_params_preserve(failobj, header):
                if name.lower() not in table:
                    table[name.lower()] = _unquotevalue(raw)
            known = (value, table)
            if self._tables is None:
                self._tables = {}
            self._tables[key] = known
        return known[1].get(param.lower(), failobj)

    def get_payload(self, i: Any = None, decode: bool = False) -> Any:
        """`Message.get_payload`; a base64 leaf's bytes (`decode`) read with less copying.
        A part's payload is text made of the bytes it came from (ASCII, and surrogate
        escapes for the rest), so those bytes are its `surrogateescape` encoding, which
        `Message` finds after checking the whole text for surrogates; and it joins the
        base64 lines from a list of them, where one `translate` drops the line breaks."""
        payload = self._payload  # type: ignore[attr-defined]
        if (
            decode
            and i is None
            and type(payload) is str
            and str(self.get("content-transfer-encoding", "")).lower() == "base64"
            and (encoded := _escaped_bytes(payload)) is not None
        ):
            value, defects = _encoded_words.decode_b(encoded.translate(None, b"\r\n"))
            for defect in defects:
                self.policy.handle_defect(self, defect)
            return value
        return super().get_payload(i, decode)  # type: ignore[call-overload]

    def __contains__(self, name: str) -> bool:
        headers: list[tuple[str, str]] = self._headers  # type: ignore[attr-defined]
        first = self._first
        if first is None or self._first_of is not headers or self._count != len(headers):
            return super().__contains__(name)
        return name.lower() in first


def _escaped_bytes(text: str) -> bytes | None:
    """The bytes a part's text was read from (ASCII and surrogate escapes); None for text
    that holds anything else (set by someone else)."""
    try:
        return text.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:
        return None


def plain_params(value: str) -> list[tuple[str, str]] | None:
    """`Message._get_params_preserve` of a header value without backslashes or RFC 2231
    stars whose every `;`-separated item has its quotes paired (nearly every Content-Type
    and Content-Disposition): the same list, made without the stdlib's general parse,
    which costs ~10 us a header. None for any other value. tests/engine/test_mime_tree.py
    compares the two on random values."""
    if "\\" in value or "*" in value:
        return None
    items = value.split(";")
    if '"' in value and any(item.count('"') % 2 for item in items):
        return None  # a quoted `;`: the stdlib's split is quote-aware
    params = []
    for item in items:
        name, equals, val = item.partition("=")
        params.append((name.strip().lower(), val.strip()) if equals else (item.strip(), ""))
    # As `email.utils.decode_params` hands them out: each value but the first's (the type,
    # usually) unquoted, then quoted again.
    return params[:1] + [(name, f'"{quote(unquote(val))}"') for name, val in params[1:]]


class _Unsure(Exception):
    """The feed parser might build something else here: let it."""


def build_tree(raw: bytes) -> Message | None:
    """The compat32 message tree of `raw`, or None where the stdlib parser must decide."""
    if _LONE_CR.search(raw):
        return None  # a lone CR ends a line for the feed parser
    text = raw.decode("ascii", "surrogateescape")
    try:
        msg, _end = _message(text, 0, len(text), 0, in_multipart=False)
    except _Unsure:
        return None
    return msg


def _message(
    text: str, start: int, end: int, depth: int, *, in_multipart: bool
) -> tuple[Message, Message]:
    """Parse text[start:end] as one message or body part. Returns (message, the object whose
    trailing line end belongs to the next boundary: see `_strip_eol`)."""
    if depth > _MAX_DEPTH:
        raise _Unsure
    msg = _Part(_COMPAT32)
    pos = _headers(msg, text, start, end)
    ctype = _content_type(msg)
    maintype = ctype.partition("/")[0]
    if ctype in ("message/delivery-status", "multipart/digest"):
        raise _Unsure
    if maintype == "message":
        inner, last = _message(text, pos, end, depth + 1, in_multipart=in_multipart)
        msg._payload = [inner]  # type: ignore[attr-defined]
        return msg, last
    if maintype == "multipart":
        _multipart(msg, text, pos, end, depth)
        return msg, msg
    msg._payload = text[pos:end]  # type: ignore[attr-defined]
    return msg, msg


def _headers(msg: _Part, text: str, pos: int, end: int) -> int:
    """Read the header block at `pos` into `msg`; returns where the body starts.

    One match of `_FIELD` per header, continuation lines included, gives what compat32's
    line-by-line read gives (`header_source_parse`: the name, and the value with its folds,
    without the blanks after the colon and the last line break)."""
    headers: list[tuple[str, str]] = []
    field = _FIELD.match
    while pos < end:
        if text.startswith("\n", pos, end):
            return _indexed(msg, headers, pos + 1)  # the blank line that ends the headers
        if text.startswith("\r\n", pos, end):
            return _indexed(msg, headers, pos + 2)
        found = field(text, pos, end)
        if found is None:
            # Body text without a blank line, a continuation first, an mbox envelope line.
            raise _Unsure
        name, value = found.groups()
        if not name:
            raise _Unsure  # no header name
        headers.append((name, value.lstrip(" \t").rstrip("\r\n")))
        pos = found.end()
    return _indexed(msg, headers, pos)


def _indexed(msg: _Part, headers: list[tuple[str, str]], body: int) -> int:
    msg._headers = headers  # type: ignore[attr-defined]
    first: dict[str, int] = {}
    for index, (header_name, _) in enumerate(headers):
        first.setdefault(header_name.lower(), index)
    msg._first, msg._first_of, msg._count = first, headers, len(headers)
    return body


def _content_type(msg: Message) -> str:
    value = msg.get("content-type")
    if value is None:
        return "text/plain"
    if not isinstance(value, str):
        raise _Unsure  # 8-bit bytes in it: the stdlib makes a Header of it
    ctype = value.partition(";")[0].strip().lower()
    return ctype if ctype.count("/") == 1 else "text/plain"


def _multipart(msg: Message, text: str, pos: int, end: int, depth: int) -> None:
    boundary = msg.get_boundary()
    if boundary is None:
        raise _Unsure
    cte = msg.get("content-transfer-encoding", "8bit")
    if not isinstance(cte, str) or cte.lower() not in ("7bit", "8bit", "binary"):
        raise _Unsure
    separator = "--" + boundary
    parts: list[Message] = []
    # Boundary lines: (line start, line end incl. its line break, is the close boundary).
    found = _boundary_lines(text, pos, end, separator)
    if not found or found[0][2]:
        raise _Unsure  # no start boundary
    first_start = found[0][0]
    if first_start > pos:
        msg.preamble = _strip_eol_text(text[pos:first_start])
    close = None
    for index, (line_start, line_end, is_close) in enumerate(found):
        if is_close:
            close = (line_start, line_end)
            break
        if index + 1 >= len(found):
            raise _Unsure  # no close boundary
        next_start = found[index + 1][0]
        if next_start == line_end:
            raise _Unsure  # two boundary lines in a row: the feed parser skips the second
        part, last = _message(text, line_end, next_start, depth + 1, in_multipart=True)
        _strip_eol(last)
        parts.append(part)
    if close is None:
        raise _Unsure
    msg._payload = parts  # type: ignore[attr-defined]
    line_start, line_end = close
    if text[line_start:line_end].endswith("\n"):
        msg.epilogue = text[line_end:end]
    else:
        msg.epilogue = ""


def _boundary_lines(text: str, pos: int, end: int, separator: str) -> list[tuple[int, int, bool]]:
    """Each line in text[pos:end] that the feed parser's boundary pattern matches, up to and
    including the first close boundary (what follows it is the epilogue)."""
    found = []
    at = pos
    if not text.startswith(separator, pos, end):
        at = _next_line_start(text, pos, end, separator)
    while at >= 0:
        tail_start = at + len(separator)
        nl = text.find("\n", tail_start, end)
        line_end = end if nl < 0 else nl + 1
        tail = _BOUNDARY_TAIL.match(text, tail_start, line_end)
        if tail is not None:
            is_close = tail.group(1) is not None
            found.append((at, line_end, is_close))
            if is_close:
                break
        at = _next_line_start(text, line_end - 1 if nl >= 0 else end, end, separator)
    return found


def _next_line_start(text: str, pos: int, end: int, separator: str) -> int:
    """Where the next line beginning with `separator` starts (after `pos`), or -1."""
    at = text.find("\n" + separator, pos, end)
    return at + 1 if at >= 0 else -1


def _strip_eol_text(value: str) -> str:
    if value.endswith("\r\n"):
        return value[:-2]
    if value.endswith("\n"):
        return value[:-1]
    return value


def _strip_eol(last: Message) -> None:
    """The line break before a boundary belongs to the boundary (RFC 2046): the feed parser
    takes it off the payload of the part just read, or off the epilogue of a multipart."""
    if last.get_content_maintype() == "multipart":
        epilogue = last.epilogue
        if epilogue == "":
            last.epilogue = None
        elif epilogue is not None:
            last.epilogue = _strip_eol_text(epilogue)
    elif isinstance(last._payload, str):  # type: ignore[attr-defined]
        last._payload = _strip_eol_text(last._payload)  # type: ignore[attr-defined]
