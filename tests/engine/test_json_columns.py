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


def test_address_lists_prepared_by_a_worker_are_stored_as_json_text_of_them(engine, account):
    """A parse worker (store/prepare.py) makes the JSON text of a message's address lists
    and references; the message stored from it holds, column for column, the text stored
    for the same message parsed in the storing process, and that text is `json.dumps` of
    the lists (searches read it with LIKE, e.g. `"email": "x"`)."""
    from mailfactory import build_mime
    from sqlalchemy import select, text

    from nylas_engine.store.blobs import BlobStore
    from nylas_engine.store.mail import NewMessage, get_or_create_category, ingest_messages
    from nylas_engine.store.models import Account
    from nylas_engine.store.prepare import prepare_batch

    raw, message_id = build_mime(
        subject="Prepared",
        from_='"Zoë \\"Q\\" Ångström" <zoe@example.org>',
        to=["Ann <ann@example.org>", "bob@example.org"],
        cc=["Émile <emile@example.org>"],
        date=1_700_000_000,
        in_reply_to="<parent@example.org>",
    )
    blobs = BlobStore(engine.data_dir / "blobs")
    (prepared,) = prepare_batch([raw], blobs.root)
    names = ("from_addr", "to_addr", "cc_addr", "bcc_addr", "reply_to_addr", "references_")
    columns = ", ".join(f"CAST({name} AS TEXT)" for name in names)
    stored = []
    with engine.db.session() as session:
        me = session.scalar(select(Account).where(Account.public_id == account["id"]))
        folder = get_or_create_category(session, me, "Prepared", None)
        ids = ingest_messages(
            session,
            blobs,
            me,
            [NewMessage(raw, prepared, [folder]), NewMessage(raw, None, [folder])],
        )
        for message_id_ in ids:
            row = session.execute(
                text(f"SELECT {columns} FROM messages WHERE id = :id"), {"id": message_id_}
            ).one()
            stored.append(tuple(row))
    from_worker, from_here = stored
    assert from_worker == from_here
    for column in from_worker:
        assert column == json.dumps(json.loads(column))
    assert json.loads(from_worker[0]) == [{"name": 'Zoë "Q" Ångström', "email": "zoe@example.org"}]
    assert '"email": "ann@example.org"' in from_worker[1]
    assert json.loads(from_worker[5]) == ["<parent@example.org>"]
