"""The quick vCard reader (dav/vcard_read.py) reads every card as vobject does."""

from __future__ import annotations

import pytest
import vobject

from nylas_engine.dav import contacts
from nylas_engine.dav.vcard_read import _quick


def _card(body: str, version: str = "3.0") -> str:
    return f"BEGIN:VCARD\r\nVERSION:{version}\r\nUID:u-1\r\n{body}END:VCARD\r\n"


CARDS = [
    _card("FN:Ada Lovelace\r\nN:Lovelace;Ada;;;\r\nEMAIL;TYPE=WORK:ada@example.com\r\n"),
    _card(
        "FN:A\\, b,c\r\nN:Lo\\;x;Ada,Augusta;B;Dr;Jr,\r\nNICKNAME:n\\,m,o\r\nTITLE:t\\;u\r\n"
        "NOTE:line one\\nline two\\, and\\\\ more\r\nORG:Co\\;x;Dep,t;\r\nBDAY:1815-12-10\r\n"
        "EMAIL;TYPE=WORK,pref;type=internet:a@b,c\r\nTEL;WORK;VOICE:+1 555\r\n"
        "item1.URL:http://x/a,b\r\nitem1.X-ABLABEL:blog\r\nIMPP;X-SERVICE-TYPE=Jabber:xmpp:a\r\n"
        'ADR;TYPE=home:;;1 St\\, x;City;;12345;FR\r\nADR;TYPE="work,pref":;;2 Rd;;;;\r\n'
        "CATEGORIES:Friends,Ch\\,ess,\r\nX-PHONE-COLOR:teal\r\n"
    ),
    _card("N:;;;;\r\nFN:\r\nCATEGORIES:\r\nORG:\r\n"),
    _card("FN:Only Fn\r\nNOTE:folded\r\n  across lines\r\nEMAIL:plain@example.com\r\n"),
    _card("KIND:group\r\nFN:Family\r\nMEMBER:urn:uuid:ada-1\r\nMEMBER:urn:uuid:b,c\r\n", "4.0"),
    _card(
        "X-ADDRESSBOOKSERVER-KIND:group\r\nFN:Work\r\n"
        "X-ADDRESSBOOKSERVER-MEMBER:urn:uuid:grace-1\r\n"
    ),
    _card("FN:Two\r\n") + _card("FN:Second card, not read\r\n"),
    "BEGIN:VCARD\nVERSION:4.0\nUID:lf\nFN:LF line ends\nN:Ends;LF;;;\nEND:VCARD\n",
    # left to vobject: a photo, encodings
    _card("FN:Pic\r\nPHOTO;ENCODING=b;TYPE=PNG:iVBORw0KGgo=\r\n"),
    _card("FN;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:Caf=C3=A9\r\n", "2.1"),
    _card("FN:B64\r\nNOTE;BASE64:aGVsbG8=\r\n"),
]


@pytest.mark.parametrize("text", CARDS)
def test_a_card_reads_as_vobject_reads_it(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    quick = contacts.parse_vcard(text)
    monkeypatch.setattr(contacts, "read_card", vobject.readOne)
    assert quick == contacts.parse_vcard(text)


def test_what_the_rules_do_not_cover_goes_to_vobject() -> None:
    assert _quick(CARDS[0]) is not None
    assert _quick(CARDS[1]) is not None
    for text in CARDS[-3:]:
        assert _quick(text) is None


@pytest.mark.parametrize(
    "text", [_card("FN:x\r\nthis line has no colon\r\n"), "BEGIN:VCARD\r\nFN:never closed\r\n"]
)
def test_a_broken_card_fails_as_with_vobject(text: str) -> None:
    with pytest.raises(Exception) as quick:
        contacts.parse_vcard(text)
    with pytest.raises(Exception) as plain:
        vobject.readOne(text)
    assert type(quick.value) is type(plain.value)
