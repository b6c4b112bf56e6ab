"""Reading a vCard into what `vobject.readOne` gives, without vobject's per-line objects.

vobject builds a `ContentLine` (attribute checks on every set) and runs a behaviour for
each line, several milliseconds per card: most of the engine's time in an address book's
initial sync (bench/RESULTS.md). Cards are only read here; writing (dav/contacts.py
`to_vcard`, `with_member`) still goes through vobject, from the server's text, so nothing
of a card is lost by reading it this way.

`read_card` splits and parses the lines with vobject's own functions (`getLogicalLines`,
`parseLine`: the same folding, grammar and errors) and decodes the values as vobject's
vCard behaviours do (`VCardTextBehavior`, `MultiTextBehavior` for CATEGORIES, `Name`,
`Address` and `splitFields` for N, ADR and ORG), for every vCard version, which vobject
reads alike. Anything those rules don't cover goes to vobject itself: other components,
encodings (ENCODING, CHARSET, QUOTED-PRINTABLE, BASE64) and PHOTO. tests/dav/
test_vcard_read.py compares both on cards that use each rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from io import StringIO
from typing import Any

import vobject
from vobject.base import getLogicalLines, parseLine
from vobject.icalendar import stringToTextValues
from vobject.vcard import ADDRESS_ORDER, NAME_ORDER, Address, Name, splitFields

_STRUCTURED = {"N": (Name, NAME_ORDER), "ADR": (Address, ADDRESS_ORDER)}
_LEFT_TO_VOBJECT = {"PHOTO", "BEGIN", "END", "PROFILE"}
_ENCODED = {"ENCODING", "CHARSET"}
_SINGLETON_ENCODINGS = {"QUOTED-PRINTABLE", "BASE64"}


@dataclass
class Line:
    """The part of a vobject `ContentLine` that reading uses."""

    value: Any
    params: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Card:
    contents: dict[str, list[Line]] = field(default_factory=dict)


def read_card(text: str) -> Any:
    """The first vCard of `text`: a `Card`, or vobject's component where `_quick` can't."""
    return _quick(text) or vobject.readOne(text)


def _quick(text: str) -> Card | None:
    lines = getLogicalLines(StringIO(text), False)
    first = next(lines, None)
    if first is None or first[0].strip().upper() != "BEGIN:VCARD":
        return None
    card = Card()
    for line, number in lines:
        name, params, value, _group = parseLine(line, number)
        name = name.upper()
        if name in _LEFT_TO_VOBJECT:
            ended = name == "END" and value.upper() == "VCARD"
            # vobject reads the first card only: what follows its end changes nothing.
            return card if ended else None
        found: dict[str, list[str]] = {}
        for param in params:
            if len(param) == 1:  # a singleton, in `ContentLine.singletonparams`
                if param[0].upper() in _SINGLETON_ENCODINGS:
                    return None
                continue
            key = param[0].upper()
            if key in _ENCODED:
                return None
            found.setdefault(key, []).extend(param[1:])
        card.contents.setdefault(name.lower(), []).append(Line(_decoded(name, value), found))
    return None  # never closed: vobject says what is wrong


def _decoded(name: str, value: str) -> Any:
    structured = _STRUCTURED.get(name)
    if structured is not None:
        kind, order = structured
        return kind(**dict(zip(order, _fields(value), strict=False)))
    if name == "ORG":
        return _fields(value)
    if name == "CATEGORIES":
        return _texts(value)
    return _texts(value)[0]


def _texts(value: str, separator: str = ",") -> list[str]:
    """`stringToTextValues`: the values between unescaped separators, a trailing empty one
    dropped, escapes resolved; split directly when there is no escape."""
    if "\\" in value:
        found: list[str] = stringToTextValues(
            value, listSeparator=separator, charList=None if separator == "," else separator
        )
        return found
    parts = value.split(separator)
    if len(parts) > 1 and not parts[-1]:
        parts.pop()
    return parts


def _fields(value: str) -> list[Any]:
    """`splitFields`: `;`-separated fields, each a string or a list of its `,` values."""
    if "\\" in value:
        fields: list[Any] = splitFields(value)
        return fields
    return [items[0] if len(items) == 1 else items for items in map(_texts, _texts(value, ";"))]
