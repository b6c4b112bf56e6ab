"""MIME parsing of real-world shapes of mail, well-formed and broken (mime/parse.py).

These are unit tests of a pure function: the messages are built here, byte for byte, the way
common mailers write them.
"""

from __future__ import annotations

import base64
import random
import time
from email.message import EmailMessage
from email.utils import format_datetime

from nylas_engine.mime import make_snippet, parse_message, sanitize_filename

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode("ascii")


def test_alternative_prefers_html_and_snippet_is_plain_text():
    msg = EmailMessage()
    msg["From"] = '"Ada Lovelace" <Ada@Example.COM>'
    msg["To"] = "bob@example.org, =?utf-8?q?Ren=C3=A9e?= <renee@example.net>"
    msg["Cc"] = "Team: carol@example.org, dan@example.org;"
    msg["Subject"] = "Quarterly report"
    msg["Date"] = "Tue, 05 Mar 2024 10:15:00 +0100"
    msg["Message-ID"] = "<abc.123@mail.example.com>"
    msg["In-Reply-To"] = "<prev@mail.example.com>"
    msg["References"] = "<root@mail.example.com> <prev@mail.example.com>"
    msg.set_content("Hello Bob,\nthe plain version.")
    msg.add_alternative(
        "<html><head><style>p {color: red}</style><title>T</title></head>"
        "<body><p>Hello <b>Bob</b>,</p><p>the &amp; HTML   version.</p>"
        "<script>alert(1)</script></body></html>",
        subtype="html",
    )

    parsed = parse_message(msg.as_bytes())

    assert parsed.subject == "Quarterly report"
    assert parsed.from_ == [{"name": "Ada Lovelace", "email": "ada@example.com"}]
    assert parsed.to == [
        {"name": "", "email": "bob@example.org"},
        {"name": "Renée", "email": "renee@example.net"},
    ]
    assert [p["email"] for p in parsed.cc] == ["carol@example.org", "dan@example.org"]
    assert parsed.date == 1709630100  # 09:15 UTC
    assert parsed.message_id == "<abc.123@mail.example.com>"
    assert parsed.in_reply_to == "<prev@mail.example.com>"
    assert parsed.references == ["<root@mail.example.com>", "<prev@mail.example.com>"]
    assert "<b>Bob</b>" in parsed.body and "plain version" not in parsed.body
    assert parsed.snippet == "Hello Bob, the & HTML version."
    assert parsed.attachments == [] and parsed.calendar_parts == []
    assert parsed.defects == 0


def test_plain_text_body_is_escaped_html_that_keeps_lines():
    msg = EmailMessage()
    msg["From"] = "a@example.com"
    msg["Subject"] = "text"
    msg.set_content("Line one with <tags> & stuff\nline two\n\nSecond paragraph\n")

    parsed = parse_message(msg.as_bytes())

    assert "&lt;tags&gt; &amp; stuff" in parsed.body
    assert "<tags>" not in parsed.body
    assert "line two" in parsed.body and "<br>" in parsed.body
    assert parsed.body.count("<p>") == 2
    assert parsed.snippet == "Line one with <tags> & stuff line two Second paragraph"


def test_inline_image_by_cid_and_attachments_with_non_ascii_names():
    raw = crlf(
        """From: Photos <photos@example.com>
To: me@example.com
Subject: pictures
Date: Wed, 06 Mar 2024 08:00:00 +0000
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="outer"

--outer
Content-Type: multipart/related; boundary="rel"

--rel
Content-Type: text/html; charset=utf-8

<p>Look: <img src="cid:logo@example.com"></p>
--rel
Content-Type: image/png
Content-Transfer-Encoding: base64
Content-ID: <logo@example.com>

"""
        + base64.encodebytes(PNG).decode()
        + """
--rel--

--outer
Content-Type: application/pdf
Content-Disposition: attachment; filename*=UTF-8''%E8%AB%8B%E6%B1%82%E6%9B%B8%20r%C3%A9sum%C3%A9.pdf
Content-Transfer-Encoding: base64

JVBERi0xLjQK
--outer
Content-Type: text/plain; name="=?UTF-8?B?w6l0w6kudHh0?="
Content-Disposition: attachment; filename="=?UTF-8?B?w6l0w6kudHh0?="

summer notes
--outer--
"""
    )

    parsed = parse_message(raw)

    assert "cid:logo@example.com" in parsed.body
    inline, pdf, txt = parsed.attachments
    assert inline.disposition == "inline"
    assert inline.content_id == "logo@example.com"
    assert inline.content_type == "image/png" and inline.data == PNG
    assert pdf.filename == "請求書 résumé.pdf"
    assert pdf.disposition == "attachment" and pdf.data == b"%PDF-1.4\n"
    assert txt.filename == "été.txt" and txt.data.strip() == b"summer notes"
    assert "summer notes" not in parsed.body


def test_latin1_and_shift_jis_bodies_are_decoded():
    latin = crlf(
        """From: a@example.com
Subject: =?iso-8859-1?q?Gr=FC=DFe?=
Content-Type: text/plain; charset=iso-8859-1
Content-Transfer-Encoding: quoted-printable

Sch=F6ne Gr=FC=DFe aus K=F6ln =80 5
"""
    )
    parsed = parse_message(latin)
    assert parsed.subject == "Grüße"
    assert "Schöne Grüße aus Köln € 5" in parsed.body  # latin-1 read as Windows-1252

    text = "こんにちは、世界。会議は明日です。"
    sjis = crlf(
        """From: =?ISO-2022-JP?B?GyRCRURDZhsoQg==?= <tanaka@example.jp>
Subject: =?shift_jis?B?ie+LYw==?=
Content-Type: text/plain; charset=Shift_JIS
Content-Transfer-Encoding: base64

"""
    ) + base64.encodebytes(text.encode("shift_jis"))
    parsed = parse_message(sjis)
    assert parsed.from_ == [{"name": "田中", "email": "tanaka@example.jp"}]
    assert parsed.subject == "会議"
    assert text in parsed.body
    assert parsed.snippet == text


def test_a_charset_name_with_a_nul_in_it_is_read_as_no_charset():
    # A damaged copy of a bench message had this: codecs.lookup raises ValueError on it,
    # which made the whole parse (and with it the sync's batch) fail.
    raw = b'Subject: x\r\nContent-Type: text/plain; charset="utf-\x008"\r\n\r\nh\xc3\xa9llo\r\n'
    parsed = parse_message(raw)
    assert parsed.text.strip() == "héllo"
    assert parsed.subject == "x"


def test_broken_headers_fall_back_instead_of_failing():
    before = int(time.time())
    raw = (
        b"From: J\xf6rg M\xfcller <JOERG@example.de>\r\n"  # raw latin-1 bytes in a header
        b'To: "unterminated <x@example.com>, , @@, nobody\r\n'
        b"Subject: caf\xc3\xa9 \xe2\x98\x95 raw utf-8\r\n"
        b"Date: the day after tomorrow\r\n"
        b"Message-ID: <<<>\r\n"
        b"Content-Type: text/plain; charset=x-no-such-charset\r\n"
        b"\r\n"
        b"na\xefve body \xff\r\n"
    )

    parsed = parse_message(raw)

    assert parsed.from_ == [{"name": "Jörg Müller", "email": "joerg@example.de"}]
    assert [p["email"] for p in parsed.to] == ["x@example.com"]
    assert parsed.subject == "café ☕ raw utf-8"
    assert before <= parsed.date <= int(time.time()) + 1
    assert parsed.message_id == "<<<>"
    assert "naïve body" in parsed.body
    assert parsed.defects > 0
    assert parse_message(raw, fallback_date=1_000_000_000).date == 1_000_000_000


def test_missing_boundary_keeps_the_text():
    raw = crlf(
        """From: a@example.com
Subject: no boundary
Content-Type: multipart/alternative

Just some text that was meant to be a multipart.
"""
    )
    parsed = parse_message(raw)
    assert "meant to be a multipart" in parsed.body
    assert parsed.defects >= 1

    unterminated = crlf(
        """From: a@example.com
Subject: cut off
Content-Type: multipart/mixed; boundary=zzz

--zzz
Content-Type: text/plain

first part survives
--zzz
Content-Type: application/octet-stream
Content-Disposition: attachment; filename=half.bin
Content-Transfer-Encoding: base64

AAEC"""
    )
    parsed = parse_message(unterminated)
    assert "first part survives" in parsed.body
    assert [a.filename for a in parsed.attachments] == ["half.bin"]


def test_path_traversal_and_control_characters_never_reach_a_filename():
    raw = crlf(
        """From: a@example.com
Subject: evil
Content-Type: multipart/mixed; boundary=b

--b
Content-Type: text/plain

hi
--b
Content-Type: application/octet-stream
Content-Disposition: attachment; filename="../../etc/passwd"

root:x:0:0
--b
Content-Type: application/octet-stream
Content-Disposition: attachment; filename="..\\\\..\\\\Windows\\\\evil.exe"

MZ
--b
Content-Type: application/octet-stream
Content-Disposition: attachment; filename*=utf-8''bad%0D%0Aname%00.txt

x
--b--
"""
    )
    names = [a.filename for a in parse_message(raw).attachments]
    assert names == ["passwd", "evil.exe", "bad name.txt"]

    assert sanitize_filename("../../etc/passwd") == "passwd"
    assert sanitize_filename("C:\\Users\\x\\report.pdf") == "report.pdf"
    assert sanitize_filename("..") is None and sanitize_filename("/") is None
    assert sanitize_filename("\x00\x1b[31mred\u202e.txt") == "[31mred.txt"
    long = sanitize_filename("a" * 400 + ".pdf")
    assert long is not None and len(long) == 255 and long.endswith(".pdf")


def test_forwarded_message_is_one_file_and_calendar_invites_are_kept():
    inner = EmailMessage()
    inner["From"] = "orig@example.com"
    inner["Subject"] = "Original words"
    inner.set_content("inner body must not leak into the outer body")

    outer = EmailMessage()
    outer["From"] = "fwd@example.com"
    outer["Subject"] = "Fwd: Original words"
    outer.set_content("see below")
    outer.add_attachment(inner)

    parsed = parse_message(outer.as_bytes())
    assert "see below" in parsed.body and "inner body" not in parsed.body
    (eml,) = parsed.attachments
    assert eml.content_type == "message/rfc822"
    assert eml.filename == "Original words.eml"
    assert b"inner body must not leak" in eml.data

    ics = (
        "BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\nUID:1\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    invite = EmailMessage()
    invite["From"] = "cal@example.com"
    invite["Subject"] = "Invitation"
    invite.set_content("You are invited")
    invite.add_alternative("<p>You are invited</p>", subtype="html")
    invite.add_alternative(ics, subtype="calendar", params={"method": "REQUEST"})

    parsed = parse_message(invite.as_bytes())
    assert parsed.body == "<p>You are invited</p>\n"
    assert parsed.calendar_parts == [ics.replace("\r\n", "\n")]
    assert parsed.attachments == []


def test_snippet_is_capped_and_missing_headers_are_empty():
    parsed = parse_message(b"\r\n" + b"word " * 200)
    assert len(parsed.snippet) == 191
    assert parsed.subject == "" and parsed.from_ == [] and parsed.message_id is None
    assert parsed.references == [] and parsed.in_reply_to is None


def test_a_snippet_is_the_texts_words_joined_and_cut_however_long_the_text():
    """make_snippet reads only the start of a long body: what it gives must be the whole
    text's words joined by single spaces, cut at the snippet length, whatever the white
    space (Unicode's too) and wherever a word crosses the point it stops reading at."""
    rng = random.Random(7)
    pieces = ["a", "word ", " ", "\n", "\t", "\r\n", "\u00a0", "\u3000", "\x85", "\x1c", "é"]
    pieces += ["x" * 300, " " * 500, "long" * 200]
    for _ in range(5_000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 60)))
        for length in (0, 1, 7, 191):
            assert make_snippet(text, length) == " ".join(text.split())[:length], (text, length)


def test_mangled_messages_never_raise_and_always_store():
    """Random corruption of a realistic message: parsing always returns storable text."""
    msg = EmailMessage()
    msg["From"] = '"Zoë" <zoe@example.com>'
    msg["To"] = "a@example.com, b@example.com"
    msg["Subject"] = "Ünïcödé subject"
    msg["Date"] = format_datetime(__import__("datetime").datetime(2024, 1, 2, 3, 4, 5))
    msg.set_content("Body text ünïcödé\n" * 5)
    msg.add_alternative("<p>Body <i>ünïcödé</i></p>", subtype="html")
    msg.add_attachment(PNG, maintype="image", subtype="png", filename="pic.png", cid="<p@x>")
    msg.add_attachment(b"%PDF-1.4 data", maintype="application", subtype="pdf", filename="d.pdf")
    base = bytearray(msg.as_bytes())

    rng = random.Random(1234)
    for _ in range(300):
        data = bytearray(base)
        for _ in range(rng.randint(1, 30)):
            op = rng.random()
            pos = rng.randrange(len(data))
            if op < 0.4:
                data[pos] = rng.randrange(256)
            elif op < 0.7:
                del data[pos : pos + rng.randint(1, 40)]
            else:
                data[pos:pos] = bytes(rng.choice(b'<>"=?;:\r\n\\-@ \x00\xff') for _ in range(5))
        parsed = parse_message(bytes(data))
        for text in [parsed.subject, parsed.body, parsed.snippet, *parsed.references]:
            text.encode("utf-8")  # no lone surrogates: the database would refuse them
        for person in parsed.from_ + parsed.to:
            person["email"].encode("utf-8")
            assert person["email"] == person["email"].lower()
        for att in parsed.attachments:
            assert att.filename is None or ("/" not in att.filename and "\\" not in att.filename)
        assert len(parsed.snippet) <= 191 and parsed.date > 0


def test_addresses_without_a_domain_and_the_null_address_are_kept():
    raw = crlf(
        """From: foo
To: MAILER DAEMON <>, Local Bob <bob>, ann@example.org
Cc: <>
Subject: local mail

hello
"""
    )
    parsed = parse_message(raw)
    assert parsed.from_ == [{"name": "", "email": "foo"}]
    assert parsed.to == [
        {"name": "MAILER DAEMON", "email": ""},
        {"name": "Local Bob", "email": "bob"},
        {"name": "", "email": "ann@example.org"},
    ]
    assert parsed.cc == [{"name": "", "email": ""}]


def _named_text_parts(disposition: str, second: str = "") -> bytes:
    return crlf(
        f"""From: a@example.com
Subject: named text
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b"

--b
Content-Type: text/plain; name="msg.txt"
{disposition}
a simple kind of mirror
--b
Content-Type: text/plain; name="second.txt"
{disposition}
{second or "to reflect upon our own"}
--b--
"""
    )


def test_text_parts_with_a_filename_and_no_other_body_are_the_body():
    # No disposition (an old mailer's name=) and inline: shown as the body, not as files.
    for disposition in ("", 'Content-Disposition: inline; filename="msg.txt"\n'):
        parsed = parse_message(_named_text_parts(disposition))
        assert "a simple kind of mirror" in parsed.body
        assert "to reflect upon our own" in parsed.body
        assert parsed.snippet == "a simple kind of mirror to reflect upon our own"
        assert parsed.attachments == []

    # Real attachments: the body, and files too.
    parsed = parse_message(_named_text_parts("Content-Disposition: attachment\n"))
    assert "a simple kind of mirror" in parsed.body
    assert [(a.filename, a.data) for a in parsed.attachments] == [
        ("msg.txt", b"a simple kind of mirror"),  # the CRLF before a boundary is the boundary's
        ("second.txt", b"to reflect upon our own"),
    ]


def test_a_named_text_part_beside_a_body_stays_a_file():
    raw = crlf(
        """From: a@example.com
Subject: body and a named text
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b"

--b
Content-Type: text/plain

the real body
--b
Content-Type: text/plain; name="notes.txt"

notes in a file
--b--
"""
    )
    parsed = parse_message(raw)
    assert "the real body" in parsed.body and "notes in a file" not in parsed.body
    assert [a.filename for a in parsed.attachments] == ["notes.txt"]
