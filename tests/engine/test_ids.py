"""Public ids as docs/protocol.md §1.5 describes them."""

from __future__ import annotations

import string
from collections import Counter

from nylas_engine.ids import is_valid_public_id, new_public_id


def test_ids_are_25_base36_digits_of_a_number_below_2_to_the_128():
    ids = [new_public_id() for _ in range(20_000)]
    assert len(set(ids)) == len(ids)
    assert {len(i) for i in ids} == {25}
    assert all(is_valid_public_id(i) for i in ids)
    assert {i[0] for i in ids} == set("123456789abcde")  # never 0: no padding
    assert max(int(i, 36) for i in ids) < 2**128
    # Every digit turns up about equally often after the first (no byte value favoured).
    counts = Counter(ch for i in ids for ch in i[1:])
    assert set(counts) == set(string.digits + string.ascii_lowercase)
    expected = 20_000 * 24 / 36
    assert all(abs(n - expected) < 0.1 * expected for n in counts.values())
