"""Multi-row INSERTs for the bulk paths (ingest, the delta log, IMAP UIDs, thread summaries).

On SQLite the rows go to the driver's `executemany` as plain tuples of one prepared
statement: SQLAlchemy's Core INSERT of a list renders a multi-row statement per few hundred
rows and binds every value through its own machinery, which cost an IMAP sync more CPU
than SQLite itself. The values are converted exactly as Core converts them (each column's
bind processor, e.g. JSON to text; Python-side column defaults for columns left out), and the
statement still goes through the SQLAlchemy connection, so its event hooks (the writers'
turn lock, see `sqlite_writers`) and transaction are the same. Other databases use Core.
"""

from __future__ import annotations

import functools
import json
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import JSON, Connection, FromClause, Table, insert, select

__all__ = ["insert_rows"]


def insert_rows(
    connection: Connection,
    into: FromClause,
    rows: Sequence[dict[str, Any]],
    *,
    ids: bool = False,
    names: dict[str, str] | None = None,
) -> list[int]:
    """INSERT `rows` (dicts keyed by column name, or by the keys of `names`, which maps them
    to column names; all with the keys of the first) into the table `into`. With `ids`,
    returns the new rows' primary keys in the order of `rows` (the table must then have an
    integer `id` and a unique `public_id`)."""
    if not rows:
        return []
    table = cast(Table, into)
    if names and connection.dialect.name != "sqlite":
        rows = [{names.get(key, key): value for key, value in row.items()} for row in rows]
    if connection.dialect.name != "sqlite":
        return _core(connection, table, rows, ids)
    plan = _plan(connection, table, tuple(rows[0]), names or {})
    connection.exec_driver_sql(plan.sql, [plan.values(row) for row in rows])
    if not ids:
        return []
    # One statement under SQLite's write lock: each row got the next rowid after the largest.
    last = int(connection.exec_driver_sql("SELECT last_insert_rowid()").scalar_one())
    new = list(range(last - len(rows) + 1, last + 1))
    c = table.c
    ends = dict(connection.execute(select(c.id, c.public_id).where(c.id.in_([new[0], last]))).all())
    public_ids = [row["public_id"] for row in rows]
    if ends.get(new[0]) == public_ids[0] and ends.get(last) == public_ids[-1]:
        return new
    return _ids_by_public_id(connection, table, public_ids)  # rowids not handed out in order


def _core(
    connection: Connection, table: Table, rows: Sequence[dict[str, Any]], ids: bool
) -> list[int]:
    if not ids:
        connection.execute(insert(table), list(rows))
        return []
    # No RETURNING in parameter order: SQLAlchemy would send one statement per row.
    statement = insert(table).returning(table.c.public_id, table.c.id)
    found = {public_id: id_ for public_id, id_ in connection.execute(statement, list(rows))}
    return [found[row["public_id"]] for row in rows]


def _ids_by_public_id(connection: Connection, table: Table, public_ids: list[str]) -> list[int]:
    found: dict[str, int] = {}
    for start in range(0, len(public_ids), 500):
        chunk = public_ids[start : start + 500]
        found.update(
            connection.execute(
                select(table.c.public_id, table.c.id).where(table.c.public_id.in_(chunk))
            ).tuples()
        )
    return [found[public_id] for public_id in public_ids]


@dataclass(frozen=True)
class _Plan:
    """How rows with a given set of keys become the driver's parameters."""

    sql: str
    values: Callable[[dict[str, Any]], tuple[Any, ...]]


_PLANS: dict[tuple[int, tuple[str, ...]], _Plan] = {}


def _plan(
    connection: Connection, table: Table, keys: tuple[str, ...], names: dict[str, str]
) -> _Plan:
    cache_key = (id(table), keys)
    plan = _PLANS.get(cache_key)
    if plan is None:
        plan = _PLANS[cache_key] = _make_plan(connection, table, keys, names)
    return plan


def _make_plan(
    connection: Connection, table: Table, keys: tuple[str, ...], names: dict[str, str]
) -> _Plan:
    dialect = connection.dialect
    given = [table.c[names.get(key, key)] for key in keys]
    given_names = {column.name for column in given}
    defaulted = [
        column
        for column in table.columns
        if column.name not in given_names
        and column.default is not None
        and (column.default.is_scalar or column.default.is_callable)
    ]
    columns = [*given, *defaulted]
    quote = dialect.identifier_preparer.quote
    sql = (
        f"INSERT INTO {quote(table.name)} ({', '.join(quote(c.name) for c in columns)}) "
        f"VALUES ({', '.join('?' * len(columns))})"
    )
    processors = [_processor(c, dialect) for c in columns]
    get = operator.itemgetter(*keys) if len(keys) > 1 else (lambda row: (row[keys[0]],))
    defaults: list[Callable[[], Any]] = []
    for column in defaulted:
        default: Any = column.default
        # Core calls a callable default with the execution context; ours take none of it.
        make = default.arg if default.is_callable else functools.partial(_constant, default.arg)
        defaults.append(functools.partial(make, None) if default.is_callable else make)
    converting = [(i, p) for i, p in enumerate(processors) if p is not None]

    def values(row: dict[str, Any]) -> tuple[Any, ...]:
        out = [*get(row), *(make() for make in defaults)]
        for i, process in converting:
            out[i] = process(out[i])
        return tuple(out)

    return _Plan(sql, values)


def _constant(value: Any) -> Any:
    return value


def _encoder() -> Callable[[Any], str]:
    """What `json.dumps(value)` gives, for the lists and dicts of plain values the store
    writes: with the C encoder made once, not once per value as `JSONEncoder.encode` makes
    it (about 1 us of a value's 2), and without its check for circular values (none of
    these can be: they are what a parse made, or the store's own lists)."""
    make = getattr(json.encoder, "c_make_encoder", None)  # not in the type stubs
    if make is None:  # a Python without the _json accelerator
        return json.JSONEncoder().encode
    standard = json.JSONEncoder(check_circular=False)
    encode = make(
        None,  # no markers: no check for circular values
        standard.default,
        json.encoder.encode_basestring_ascii,
        None,  # indent
        standard.key_separator,
        standard.item_separator,
        standard.sort_keys,
        standard.skipkeys,
        standard.allow_nan,
    )

    def dumps(value: Any) -> str:
        return "".join(encode(value, 0))

    return dumps


_ENCODE = _encoder()
_EMPTY = {list: "[]", dict: "{}"}


def _processor(column: Any, dialect: Any) -> Callable[[Any], Any] | None:
    """The column's bind processor; for JSON (most of a message's columns, mostly empty
    lists), the same text without the layers Core puts around `json.dumps`."""
    process: Callable[[Any], Any] | None = column.type._cached_bind_processor(dialect)
    if (
        process is None
        or not isinstance(column.type, JSON)
        or column.type.none_as_null
        or getattr(dialect, "_json_serializer", None) is not None
    ):
        return process
    general = process

    def to_json(value: Any) -> Any:
        kind = type(value)
        if kind is list or kind is dict:
            return _EMPTY[kind] if not value else _ENCODE(value)
        return general(value)

    samples: list[Any] = [[], {}, [{"name": "É", "email": "a@b"}], {"k": [1, None]}, None]
    return to_json if all(to_json(v) == general(v) for v in samples) else general
