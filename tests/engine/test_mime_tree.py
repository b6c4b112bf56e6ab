"""The fast MIME tree (mime/tree.py) builds exactly what the stdlib's feed parser builds, or
leaves the message to it: checked part for part on the CPython email test corpus (when the
interpreter ships it), the bench mailbox's kinds of mail and randomly damaged copies."""

from __future__ import annotations

import random
import sys
import sysconfig
from email import policy
from email.headerregistry import HeaderRegistry
from email.message import Message
from email.parser import BytesParser
from pathlib import Path

from nylas_engine.mime import parse as parse_module
from nylas_engine.mime import parse_message
from nylas_engine.mime.parse import simple_addresses, simple_text
from nylas_engine.mime.tree import build_tree, plain_params

ROOT = Path(__file__).resolve().parents[2]


def _cpython_corpus() -> list[bytes]:
    data = Path(sysconfig.get_paths()["stdlib"]) / "test" / "test_email" / "data"
    return [p.read_bytes() for p in sorted(data.glob("msg_*.txt"))]


def _bench_corpus(count: int) -> list[bytes]:
    sys.path.insert(0, str(ROOT / "bench"))
    sys.path.insert(0, str(ROOT / "tests" / "sync"))
    try:
        import sync as bench  # bench/sync.py: the benchmark's message generator
    finally:
        del sys.path[:2]
    rng = random.Random(4)
    threads: list[tuple[str, str]] = []
    return [bench.make_message(i, rng, "me@example.com", threads) for i in range(count)]


def _difference(a: Message, b: Message, path: str = "message") -> str | None:
    if a._headers != b._headers:  # type: ignore[attr-defined]
        return f"{path}: headers"
    for attr in ("preamble", "epilogue", "_unixfrom", "_default_type", "_charset"):
        if getattr(a, attr) != getattr(b, attr):
            return f"{path}: {attr}"
    if len(a.defects) != len(b.defects):
        return f"{path}: defects"
    pa, pb = a._payload, b._payload  # type: ignore[attr-defined]
    if isinstance(pa, list) and isinstance(pb, list) and len(pa) == len(pb):
        for i, (x, y) in enumerate(zip(pa, pb, strict=True)):
            if found := _difference(x, y, f"{path}.{i}"):
                return found
        return None
    return None if pa == pb else f"{path}: payload"


def _damaged(messages: list[bytes], seed: int) -> list[bytes]:
    rng = random.Random(seed)
    out = []
    for base in messages:
        for _ in range(4):
            data = bytearray(base)
            for _ in range(rng.randint(1, 10)):
                pos = rng.randrange(len(data))
                op = rng.random()
                if op < 0.4:
                    data[pos] = rng.randrange(256)
                elif op < 0.7:
                    del data[pos : pos + rng.randint(1, 40)]
                else:
                    noise = b'<>"=?;:\r\n\\- @\x00\xff\t'
                    data[pos:pos] = bytes(rng.choice(noise) for _ in range(5))
            out.append(bytes(data))
    return out


def test_fast_tree_equals_the_stdlib_tree_or_defers_to_it():
    cpython = _cpython_corpus()
    bench = _bench_corpus(400)
    corpus = cpython + [m.replace(b"\n", b"\r\n") for m in cpython] + bench
    corpus += _damaged(bench[:150] + cpython, seed=7)
    fast = 0
    for raw in corpus:
        tree = build_tree(raw)
        if tree is None:
            continue
        fast += 1
        reference = BytesParser(policy=policy.compat32).parsebytes(raw)
        assert _difference(tree, reference) is None, raw[:300]
    assert all(build_tree(raw) is not None for raw in bench)  # well-formed mail takes it
    assert fast > len(bench)


def test_parsed_messages_are_the_same_either_way(monkeypatch):
    corpus = _cpython_corpus() + _bench_corpus(300)
    fast = [parse_message(raw, fallback_date=1) for raw in corpus]
    monkeypatch.setattr(parse_module, "build_tree", lambda raw: None)
    assert [parse_message(raw, fallback_date=1) for raw in corpus] == fast


def test_lone_cr_envelope_lines_and_missing_boundaries_go_to_the_stdlib():
    assert build_tree(b"Subject: x\r\rbody") is None
    assert build_tree(b"From someone Sat Jan  1 00:00:00 2000\nSubject: x\n\nbody\n") is None
    assert build_tree(b"Content-Type: multipart/mixed\n\ntext\n") is None
    unterminated = b"Content-Type: multipart/mixed; boundary=b\n\n--b\n\nfirst\n"
    assert build_tree(unterminated) is None
    assert build_tree(b"Subject: x\n\nbody\n") is not None


def test_plain_parameters_are_read_as_the_stdlib_reads_them():
    """`plain_params`, the tree's shortcut for Content-Type and Content-Disposition, gives
    `Message._get_params_preserve`'s very list wherever it answers, on random values made of
    what parameters are made of (quotes, `;` inside and outside them, RFC 2231 stars,
    backslashes, angle brackets, Unicode white space)."""
    rng = random.Random(5)
    pieces = [*"abcXYZ/;= \t-._", '"', '"', "\\", "*", "<", ">", "é", "\r\n ", "\u00a0", "\x85"]
    pieces += ["charset", "name", "filename", "=utf-8", "text/plain", ";;", 'boundary="', '"x"']
    answered = 0
    for _ in range(40_000):
        value = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 25)))
        msg = Message(policy.compat32)
        msg["Content-Type"] = value
        mine = plain_params(msg["Content-Type"])
        if mine is not None:
            answered += 1
            assert mine == Message._get_params_preserve(msg, None, "content-type"), value
    assert answered > 10_000  # the shortcut is taken, not only declined


def _address_list(rng: random.Random) -> str:
    """A random address list: plain mailboxes, often with one of the things that make a
    list not plain put in somewhere."""
    words = ["Ann", "Bob", "O'Neil", "x-y", "a+b", "ann", "#1", "~z"]
    encoded = ["=?utf-8?q?=C3=89milie?=", "=?ISO-8859-1?Q?Fran=E7ois?=", "=?utf-8?b?w4lt?="]
    odd = ["é", "q=?x", "=?utf-8?q?a_b?=", "=?bogus?q?x?=", "=?utf-8?q?=FF?=", "=?utf-8?x?y?="]

    def name_word() -> str:
        pick = rng.random()
        return rng.choice(odd if pick < 0.03 else encoded if pick < 0.3 else words)

    def dot_atom() -> str:
        return ".".join(rng.choice(words) for _ in range(rng.randint(1, 2)))

    def blank() -> str:
        return rng.choice(["", " ", "  ", "\t"])

    items = []
    for _ in range(rng.randint(1, 3)):
        addr = f"{dot_atom()}@{dot_atom()}"
        name = " ".join(name_word() + blank() for _ in range(rng.randint(0, 3)))
        shape = rng.random()
        item = addr if shape < 0.3 else f"<{addr}>" if shape < 0.4 else f"{name}{blank()}<{addr}>"
        items.append(blank() + item + blank())
    value = ",".join(items)
    if rng.random() < 0.4:
        at = rng.randint(0, len(value))
        noise = rng.choice([*'",.@<>:;()[]\\', "=?utf-8?q?A?=", "", " ,", "(c)", "\x85"])
        value = value[:at] + noise + value[at:]
    return value


def test_plain_address_lists_are_read_as_the_header_registry_reads_them():
    """`simple_addresses`, the parse's shortcut for address headers, gives the header
    registry's (display name, addr-spec) of every mailbox, with no defect, wherever it
    answers, on random lists (with quotes, comments, groups, encoded words, periods and
    blanks in names, empty items or 8-bit text put in at random places)."""
    rng = random.Random(6)
    registry = HeaderRegistry()
    answered = 0
    for _ in range(10_000):
        value = _address_list(rng)
        mine = simple_addresses(value)
        if mine is None:
            continue
        answered += 1
        header = registry("To", value)
        theirs = [(a.display_name, a.addr_spec) for a in header.addresses]
        assert (mine, []) == (theirs, list(header.defects)), value
    assert answered > 1_000  # the shortcut is taken, not only declined
    assert simple_addresses("Ann  Sender <ann@example.org>, bob@example.com") == [
        ("Ann Sender", "ann@example.org"),
        ("", "bob@example.com"),
    ]
    assert simple_addresses("=?utf-8?q?=C3=89milie?= Durand <e@x.fr>") == [
        ("Émilie Durand", "e@x.fr")
    ]
    for declined in (
        *('"Sender, Ann" <a@b.c>', "J. Smith <a@b.c>", "a@b.c,", "foo", "<>", "Zoë <z@x.y>"),
        *("=?utf-8?q?=FF?= <a@b.c>", "=?utf-8?q?A?=<a@b.c>", "a=?b@c.d", "(c) a@b.c"),
    ):
        assert simple_addresses(declined) is None


def test_plain_encoded_subjects_are_decoded_as_the_header_registry_decodes_them():
    """`simple_text`, the shortcut for a Subject with RFC 2047 encoded words, gives the
    registry's text wherever it answers (and the registry notes no defect there), on random
    values of words, encoded words good and bad, blanks, tabs and control characters."""
    rng = random.Random(9)
    pieces = ["Re:", "Caf", "a=?b", "?=", "x", "=?utf-8?q?=C3=89t=C3=A9?=", "=?utf-8?b?w4lt?="]
    pieces += ["=?ISO-8859-1?Q?Caf=E9_cr=E8me?=", "=?utf-8?q?a_b?=", "=?bogus?q?x?=", "é"]
    pieces += ["=?utf-8?q?=FF?=", "=?utf-8?x?y?=", "=?utf-8?q?a", "b?=", "\x01", "=?utf-8?q??="]
    blanks = [" ", " ", "  ", "\t", ""]
    registry = HeaderRegistry()
    answered = 0
    for _ in range(20_000):
        words = [rng.choice(pieces) for _ in range(rng.randint(1, 6))]
        value = rng.choice(["", " "]) + "".join(w + rng.choice(blanks) for w in words)
        mine = simple_text(value)
        if mine is None:
            continue
        answered += 1
        header = registry("Subject", value)
        assert (mine, []) == (str(header), list(header.defects)), value
    assert answered > 2_000
    assert simple_text("Re: =?utf-8?q?A?= =?utf-8?q?B?=  c") == "Re: AB  c"
    for declined in ("a=?utf-8?q?A?=", "=?utf-8?q?a b?=", "=?utf-8?q?=FF?=", "Zoë =?utf-8?q?A?="):
        assert simple_text(declined) is None


def test_parsed_addresses_are_the_same_without_the_shortcut(monkeypatch):
    corpus = _cpython_corpus() + _bench_corpus(300)
    corpus += _damaged(_bench_corpus(100) + _cpython_corpus(), seed=8)
    fast = [parse_message(raw, fallback_date=1) for raw in corpus]
    monkeypatch.setattr(parse_module, "simple_addresses", lambda value: None)
    monkeypatch.setattr(parse_module, "simple_text", lambda value: None)
    assert [parse_message(raw, fallback_date=1) for raw in corpus] == fast


def _answers(part: Message) -> list[object]:
    """What the walk asks of a part, asked twice (the fast tree remembers its answers)."""
    asked = [
        part.get_content_type(),
        part.get_content_charset(),
        part.get_content_disposition(),
        part.get_filename(),
        part.get_boundary(),
        part.get_param("name"),
        part.get_param("NAME", "none"),
        part.get_param("filename", "none", "Content-Disposition"),
        part.get_param("charset", unquote=False),
        part.get("content-id"),
        "content-type" in part,
        "X-Missing" in part,
    ]
    return asked + asked[:6]


def test_a_fast_parts_answers_are_the_stdlib_parts_answers():
    """`_Part` answers header, parameter and content-type questions from tables it makes
    once: the same answers as `Message`'s, part for part, also after a header changes."""
    cpython = _cpython_corpus()
    bench = _bench_corpus(200)
    corpus = cpython + bench + _damaged(bench[:100] + cpython, seed=11)
    checked = 0
    for raw in corpus:
        tree = build_tree(raw)
        if tree is None:
            continue
        reference = BytesParser(policy=policy.compat32).parsebytes(raw)
        fast_parts, stdlib_parts = list(tree.walk()), list(reference.walk())
        assert len(fast_parts) == len(stdlib_parts)
        for mine, theirs in zip(fast_parts, stdlib_parts, strict=True):
            assert _answers(mine) == _answers(theirs), raw[:300]
            checked += 1
        for part in (tree, reference):  # changed headers are read anew
            part.set_param("charset", "koi8-r")
            part.replace_header("Content-Type", "text/x-other; name=changed")
        assert _answers(tree) == _answers(reference)
    assert checked > len(bench)


def test_a_fast_parts_base64_payload_is_the_stdlib_parts():
    """`_Part.get_payload(decode=True)` of base64 reads the bytes with less copying: the
    same bytes and the same defects as `Message`'s, for clean, damaged and oddly broken
    base64 (any line ends, characters outside the alphabet, padding missing or extra)."""
    import base64

    rng = random.Random(21)
    checked = 0
    for _ in range(800):
        data = base64.encodebytes(rng.randbytes(rng.randint(0, 300)))
        text = bytearray(data.replace(b"\n", rng.choice([b"\n", b"\r\n"])))
        for _ in range(rng.choice([0, 0, 1, 3])):
            pos = rng.randrange(len(text) + 1)
            text[pos:pos] = rng.choice([b"=", b"==", b"!", b"\r", b" ", b"\x00", b"\xff", b"A"])
        if rng.random() < 0.2 and text:
            del text[rng.randrange(len(text))]
        raw = (
            b"Content-Type: application/octet-stream\r\n"
            b"Content-Transfer-Encoding: " + rng.choice([b"base64", b"BASE64"]) + b"\r\n\r\n"
        ) + bytes(text)
        tree = build_tree(raw)
        if tree is None:  # a lone CR: the stdlib's to read
            continue
        reference = BytesParser(policy=policy.compat32).parsebytes(raw)
        assert tree.get_payload(decode=True) == reference.get_payload(decode=True), raw
        assert [type(d) for d in tree.defects] == [type(d) for d in reference.defects], raw
        checked += 1
    assert checked > 400
