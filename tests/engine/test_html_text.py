"""HTML to text: the well-formed fast path gives html.parser's text, or leaves it to it."""

from __future__ import annotations

import random
import sys
from pathlib import Path

from nylas_engine.mime import html_text
from nylas_engine.mime.html_text import html_to_text
from nylas_engine.mime.parse import _BodyWalker
from nylas_engine.mime.tree import build_tree

ROOT = Path(__file__).resolve().parents[2]


_PIECES = [
    "Hello", " world ", "\n", "caf\u00e9", "a &amp; b", "&lt;tag&gt;", "&#39;", "&#x2014;",
    "&nbsp;", "&bogus;", "& alone", "&amp", "AT&T", "1 < 2", "<", ">", "x > y",
    "<p>", "</p>", "<P>", "</P >", "<br>", "<br/>", "<br />", "<BR/>", "<div>", "</div>",
    "<span>", "</span>", "<o:p>", "</o:p>", "<my-tag>", "</my-tag>", "<td>", "</td>", "<tr>",
    "<table border=0 cellpadding=\"2\">", "<a href='http://x.test/a?b=1&amp;c=2'>", "</a>",
    '<a href="x>y">', "<a href=http://x.test/a/>", "<a href=/>", "<p class=x/>",
    '<img src="i.png" alt=""/>',
    '<font face="Arial" size=2 color=#333>', '<a title="a\nb">', "<a b='1'c='2'>", '<a "b">',
    "<a b=`c`>", "<a b=c=d>", "<input disabled>", "< p>", "</ p>", "</>", "<p/ >", "<1>",
    "<!-- note -->", "<!--[if mso]><table><![endif]-->", "<!---->", "<!-- a -- b -->",
    "<!-- a --->", "<!--> x -->", "<!DOCTYPE html>", "<!doctype html public \"-//W3C\">",
    "<![CDATA[ x ]]>", "<?xml version='1.0'?>", "<![if !mso]>", "<!x>", "<![endif]>",
    "<![IF gte mso 9]>", "<![else]>", "<![foo]>", "<![if x>", "<![ifx]>", "<![if a]b]>",
    '<?xml:namespace prefix = o ns = "urn:schemas-microsoft-com:office:office" />', "<? a <b>",
    "<head>", "</head>", "<title>T &amp; t</title>", "<title>a<b>c</title>", "<title/>",
    "<style>p { color: red }</style>", "<STYLE type=text/css>a{}</STYLE>", "<style>a</b></style>",
    "<script>var a = 1;</script>", "<script>if (a < b) {}</script>", "<script/>",
    "<script>x</script >", "<template>t</template>", "<textarea>a<b>c</textarea>",
    "<iframe>i</iframe>", "<noscript>n</noscript>", "<xmp><b></xmp>", "<plaintext>",
]  # fmt: skip


def _random_markup(rng: random.Random) -> str:
    pieces = _PIECES if rng.random() < 0.5 else [p for p in _PIECES if _fast_alone(p)]
    return "".join(rng.choice(pieces) for _ in range(rng.randint(1, 40)))


def _fast_alone(piece: str) -> bool:
    return html_text._well_formed_text(piece) is not None


def test_random_markup_gives_html_parsers_text():
    rng = random.Random(12)
    taken = declined = 0
    for _ in range(6000):
        markup = _random_markup(rng)
        expected = html_text._parsed_text(markup)
        fast = html_text._well_formed_text(markup)
        if fast is None:
            declined += 1
        else:
            taken += 1
            assert fast == expected, markup
        assert html_to_text(markup) == expected, markup
    # Both ways are exercised: the comparison above is not empty either way.
    assert taken > 1500 and declined > 1500


def test_what_the_fast_path_leaves_to_html_parser():
    for markup in (
        "1 < 2",  # a stray `<`
        "<script>if (a < b) {}</script>",  # a `<` in a script
        "<a b=c=d>",  # an `=` in an unquoted value
        "<![CDATA[ x ]]>",
        "<![foo]>",  # a marked section other than Office's
        "<!-- a -- b -->",  # `--` inside a comment
        "<textarea>a<b>c</textarea>",  # raw text to newer versions of html.parser
        "<title>a<b>c</title>",
    ):
        assert html_text._well_formed_text(markup) is None, markup


def test_the_text_of_common_markup():
    assert html_to_text("<p>Caf&eacute; &amp; bar</p><br/>x") == "\nCaf\u00e9 & bar\n\n\nx"
    assert html_to_text("<head><title>T</title><style>p{}</style></head><div>Hi</div>") == (
        "\nHi\n"
    )
    assert html_to_text("<!--[if mso]><table><![endif]--><o:p>a</o:p>") == "a"
    word = "<?xml:namespace prefix = o /><![if !supportLists]>1.<![endif]><p class=x>b</p>"
    assert html_text._well_formed_text(word) == "1.\nb\n"
    assert html_to_text("a < b") == "a < b"  # html.parser's own reading
    assert html_text._well_formed_text("<p class=x/>y") == "\ny"  # not self-closed


def test_html_of_the_test_corpora_is_read_alike():
    """Every HTML body of the bench mailbox and of the CPython email corpus: the fast path
    takes the bench's (well-formed) bodies, and gives html.parser's text for each."""
    sys.path[:0] = [str(ROOT / "bench"), str(ROOT / "tests" / "sync")]
    try:
        import sync as bench  # bench/sync.py: the benchmark's message generator
    finally:
        del sys.path[:2]
    rng = random.Random(4)
    threads: list[tuple[str, str]] = []
    raws = [bench.make_message(i, rng, "me@example.com", threads) for i in range(600)]
    bodies = []
    for raw in raws:
        tree = build_tree(raw)
        assert tree is not None
        walker = _BodyWalker()
        walker.walk(tree, 0)
        if body := "".join(walker.html_parts):
            bodies.append(body)
    assert len(bodies) > 100
    for body in bodies:
        assert html_text._well_formed_text(body) == html_text._parsed_text(body)


def test_plain_text_as_html():
    from nylas_engine.mime.parse import text_to_html

    text = 'Hi <Ann> & "Bo",\r\nline two\n\n \t\nNew paragraph\'s line\r\rlast\n'
    assert text_to_html(text) == (
        "<p>Hi &lt;Ann&gt; &amp; &quot;Bo&quot;,<br>\nline two</p>\n"
        "<p>New paragraph&#x27;s line</p>\n<p>last</p>"
    )
    assert text_to_html("\n\n") == ""
    assert html_to_text(text_to_html("a & b\nc")) == "\na & b\n\nc\n"  # read back as text
