"""store/bulk.py's rows are written as SQLAlchemy Core writes them."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    insert,
)

from nylas_engine.store.bulk import insert_rows

_VALUES = [
    [],
    {},
    [{"name": "Zo\u00eb \u00c9lise", "email": "zoe@example.org"}, {"name": "", "email": "b@x"}],
    ["<a@b>", "<c@d>"],
    [3, 1, 2],
    {"k": [1, None, 1.5, True, False], "\u2028": '\ud83d\ude00 "q" \\ /'},
    None,
    "text",
    12,
    [[[]], {"a": {}}],
]


def test_rows_are_the_same_text_as_cores():
    table = Table(
        "t",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("doc", JSON),
        Column("flag", Boolean, default=False),
        Column("label", String(20), default="none"),
    )
    engine = create_engine("sqlite://")
    table.metadata.create_all(engine)
    with engine.begin() as conn:
        insert_rows(conn, table, [{"id": i, "doc": v} for i, v in enumerate(_VALUES)])
        offset = len(_VALUES)
        conn.execute(insert(table), [{"id": offset + i, "doc": v} for i, v in enumerate(_VALUES)])
        rows = conn.exec_driver_sql("SELECT id, doc, flag, label FROM t ORDER BY id").all()
    ours, cores = rows[:offset], rows[offset:]
    assert [r[1:] for r in ours] == [r[1:] for r in cores]
    assert ours[2][1] == '[{"name": "Zo\\u00eb \\u00c9lise", "email": "zoe@example.org"}, ' + (
        '{"name": "", "email": "b@x"}]'
    )
    assert ours[0][2:] == (0, "none")  # the columns' defaults, as Core fills them in
