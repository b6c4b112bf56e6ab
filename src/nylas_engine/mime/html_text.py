"""The readable text of an HTML body (for the search index, snippets and plain-text parts).

`html.parser` finds the text: block elements become line breaks; scripts, styles, the head
and templates are dropped; entities are decoded. It also parses every tag's attributes,
which the text never needs, and on a mailbox of HTML mail that was most of its time.

`_well_formed_text` reads the markup most mail is written in (tags with well-formed
attributes, end tags, comments, a doctype, Office's conditional sections and processing
instructions; scripts, styles and titles without a `<` inside) with one regular expression
per tag and hands the same events to the same handler, so its text is html.parser's.
Anything else (a stray `<`, a backtick or `=` in an unquoted value, CDATA, elements that
newer parsers read as raw text such as `textarea` and `iframe`) leaves it to html.parser.
tests/engine/test_html_text.py checks the two agree on random markup and on the test
corpora.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from typing import Any


class _TextExtractor(HTMLParser):
    _SKIP = {"script", "style", "head", "title", "template"}
    _BLOCK = {
        "br", "p", "div", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6",
        "table", "blockquote", "pre", "hr", "section", "article", "ul", "ol",
    }  # fmt: skip

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in self._SKIP:
            self.skipping += 1
        elif tag in self._BLOCK:
            self.out.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag in self._BLOCK:
            self.out.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.out.append(data)


def html_to_text(markup: str) -> str:
    """The readable text of an HTML body: no tags, scripts, styles or entities."""
    text = _well_formed_text(markup)
    return text if text is not None else _parsed_text(markup)


def _parsed_text(markup: str) -> str:
    """html.parser's text; where html.parser fails (an unknown `<![name`), the markup
    without its tags."""
    parser = _TextExtractor()
    try:
        parser.feed(markup)
        parser.close()
    except Exception:
        return html.unescape(re.sub(r"<[^>]*>", " ", markup))
    return "".join(parser.out)


_NAME = r"[a-zA-Z][-.a-zA-Z0-9:_]*"
_ATTRIBUTE = (
    r"""\s+[^\s"'<>/=]+"""  # a name after white space
    # A value: quoted, or bare up to white space or the tag's end (a `/` at its end is the
    # value's, as html.parser reads it: `<p class=x/>` is not self-closed).
    r"""(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'<>=`]+(?=[\s>])))?"""
)
_TOKEN = re.compile(
    rf"<(?:({_NAME})((?:{_ATTRIBUTE})*)\s*(/?)>"  # a start tag: name, attributes, self-closed
    rf"|/({_NAME})\s*>"  # an end tag
    r"|!--(?![->])(?:(?!--)[^\x00])*-->"  # a comment without `--` inside
    r"|![dD][oO][cC][tT][yY][pP][eE][^<>\"']*>"  # a doctype
    # Word's and Outlook's `<![if !supportLists]>` and `<![endif]>`, and `<?xml:namespace
    # ...>`: read to their first `>` by every version of html.parser, and dropped.
    r"|!\[(?i:if|else|endif)(?![-_.a-zA-Z0-9])[^<>\]]*\]>"
    r"|\?[^<>]*>)"
)
# Elements whose content html.parser (3.11) reads up to their end tag without looking for tags
# in it, and the title, which newer versions read so: taken only when that content has no `<`
# at all, so that every version of html.parser reads it alike.
_RAW_CONTENT = frozenset({"script", "style", "title"})
# Elements newer versions of html.parser read as raw text and 3.11 does not: left to it.
_UNSURE = frozenset({"textarea", "xmp", "iframe", "noembed", "noframes", "noscript", "plaintext"})


def _well_formed_text(markup: str) -> str | None:
    """html.parser's text for markup that is all well-formed tags, comments and text, read
    without html.parser; None where html.parser must read it."""
    sink = _TextExtractor()
    data, start, end = sink.handle_data, sink.handle_starttag, sink.handle_endtag
    unescape, token, find = html.unescape, _TOKEN.match, markup.find
    pos = 0
    while (lt := find("<", pos)) >= 0:
        if lt > pos:
            data(unescape(markup[pos:lt]))
        found = token(markup, lt)
        if found is None:
            return None
        name, _attributes, closed, end_name = found.groups()
        pos = found.end()
        if end_name is not None:
            end(end_name.lower())
        elif name is not None:
            tag = name.lower()
            if tag in _UNSURE or (closed and tag in _RAW_CONTENT):
                return None
            start(tag, None)
            if closed:  # `<br/>`: html.parser's handle_startendtag
                end(tag)
            elif tag in _RAW_CONTENT:
                # Its content (dropped: these are all skipped) runs to its end tag.
                close = find("<", pos)
                closer = f"</{tag}>"
                if close < 0 or markup[close : close + len(closer)].lower() != closer:
                    return None
                pos = close + len(closer)
                end(tag)
    if pos < len(markup):
        data(unescape(markup[pos:]))
    return "".join(sink.out)
