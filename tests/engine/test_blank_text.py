"""Blank text is blank in the OpenAPI document and in the engine alike. The document's patterns
are ECMAScript regular expressions (JSON Schema says so), so a JavaScript engine reads them
here; Python's idea of white space differs (nylas_engine/blank.py), and a client generating
requests from the document got 400s for text the document called valid."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from nylas_engine.blank import NOT_BLANK, is_blank


def test_the_documents_pattern_and_the_engines_check_agree_on_every_character() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.fail(
            "node is needed to read the pattern as ECMAScript (scripts/test.sh installs it)"
        )
    script = (
        "const re = new RegExp(JSON.parse(process.argv[1]), 'u'); const out = [];"
        "for (let c = 0; c < 0x10000; c++) {"
        "  if (c >= 0xd800 && c <= 0xdfff) continue;"
        "  if (!re.test(String.fromCharCode(c))) out.push(c); }"
        "console.log(JSON.stringify(out));"
    )
    run = subprocess.run(
        [node, "-e", script, json.dumps(NOT_BLANK)], capture_output=True, text=True, check=True
    )
    blank_in_ecmascript = json.loads(run.stdout)
    blank_in_the_engine = [
        c for c in range(0x10000) if not 0xD800 <= c <= 0xDFFF and is_blank(chr(c))
    ]
    assert blank_in_ecmascript == blank_in_the_engine
    # What changed: the separators Python strips, and the byte-order mark ECMAScript calls space.
    assert {0x1C, 0x1F, 0x85, 0xFEFF} <= set(blank_in_the_engine)
    assert not is_blank(" a ")
