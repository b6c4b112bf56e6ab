"""JSON columns are decoded by orjson where it reads what `json` reads, and by `json`
where it would not (store/db.py `json_loads`)."""

from __future__ import annotations

import json

import pytest

from nylas_engine.store.db import json_loads

TEXTS = [
    '[{"name": "Ann", "email": "ann@example.org"}]',
    '{"a": "\\u00e9\\u20ac", "n": [1, -2, 3.5, true, null]}',
    "9223372036854775807",
    "-9223372036854775808",
    "18446744073709551615",
    # Beyond 64 bits: orjson would read these as floats.
    "-9223372036854775809",
    "[1, -9999999999999999999]",
    '{"big": 18446744073709551616}',
    "123456789012345678901234567890",
    '["digits in a string 12345678901234567890"]',
    # orjson refuses these; `json` reads them.
    "NaN",
    '"\\ud800"',
    "[1e400]",
]


@pytest.mark.parametrize("text", TEXTS)
def test_json_columns_read_exactly_what_json_reads(text):
    expected = json.loads(text)
    for given in (text, text.encode()):
        got = json_loads(given)
        assert repr(got) == repr(expected)
        assert type(got) is type(expected)


def test_a_lone_surrogate_in_stored_text_is_read_too():
    assert json_loads('"\ud800"') == "\ud800"
