"""Database engine and sessions: SQLite in WAL mode by default, any SQLAlchemy URL when asked."""

from __future__ import annotations

import json
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Text,
    create_engine,
    event,
    text,
    type_coerce,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from nylas_engine.store.private import DIR_MODE, private_file
from nylas_engine.store.sqlite_writers import take_turns

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
BUSY_TIMEOUT = 30.0  # seconds a SQLite writer waits for the write lock
# PostgreSQL advisory lock held while migrating: processes that start together take turns,
# and the ones that come later find the schema current.
MIGRATION_LOCK = 0x6E796C6173  # "nylas"


# orjson reads an integer beyond 64 bits as a float, where `json` keeps it exact. Every such
# integer has 19 digits or more in a row (-9223372036854775809 has 19), so text holding a
# run of 19 digits anywhere (in a string too, to keep it simple) is read by `json`. The run
# is looked for with C byte operations (digits mapped to "0", then a substring search): a
# regular expression scanned every character in Python's regex engine: about a fifth of a
# thread page's time (py-spy).
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_RUN = b"0" * 19


def json_loads(text: str | bytes) -> Any:
    """What `json.loads` returns, read by orjson (several times faster: JSON columns are most
    of what a page of messages or threads reads). Text orjson refuses (NaN, a lone
    surrogate) or would read differently (a very long integer) goes to `json.loads`."""
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    if _LONG_RUN not in data.translate(_DIGITS_AS_ZERO):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)


def json_text(column: Any) -> ColumnElement[Any]:
    """`column` (JSON) read as its text, for readers that decode many values with
    `json_value` rather than through Core's result processors, one call per value less."""
    return type_coerce(column, Text)


def json_value(value: Any) -> Any:
    """A value read by `json_text`: text from SQLite, already decoded from PostgreSQL."""
    return json_loads(value) if isinstance(value, str | bytes) else value


_ENGINES: weakref.WeakSet[Engine] = weakref.WeakSet()  # every engine `make_engine` made


def close_all() -> None:
    """Close the connections of every engine this process made (see `cli.run`)."""
    for engine in list(_ENGINES):
        engine.dispose()


def make_engine(url: str, pool_size: int | None = None) -> Engine:
    """An engine for `url`; SQLite files get WAL, foreign keys, a busy timeout and writers
    that take turns (store/sqlite_writers.py).

    `pool_size`: connections kept open (the API sizes it to the threads it runs at once, see
    config.Settings.db_pool_size); 16 more may be opened for bursts."""
    kwargs: dict[str, Any] = {"json_deserializer": json_loads}
    if pool_size is not None and url != "sqlite:///:memory:":
        kwargs.update(pool_size=pool_size, max_overflow=16)
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": BUSY_TIMEOUT}
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            path = Path(url.removeprefix("sqlite:///"))
            path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
            private_file(path)
    engine = create_engine(url, **kwargs)
    _ENGINES.add(engine)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT * 1000)}")
            cur.close()

        take_turns(engine, BUSY_TIMEOUT)
    return engine


def libpq_dsn(url: str) -> str:
    """`url` (SQLAlchemy's, e.g. postgresql+psycopg://) as psycopg connects to it directly,
    for the connections kept apart from the pool (LISTEN, the liveness lock)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def head_revision() -> str:
    """The newest migration's revision: migrations are numbered, and a file's number is its
    revision (`0005_auth_code_token.py` is "0005")."""
    return max(path.name.split("_", 1)[0] for path in (MIGRATIONS_DIR / "versions").glob("*.py"))


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None when it has none (a new database)."""
    try:
        with engine.connect() as conn:
            revision = conn.scalar(text("SELECT version_num FROM alembic_version"))
    except DBAPIError:  # no alembic_version table yet
        return None
    return None if revision is None else str(revision)


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision (creates a new database).

    A database already at the newest revision is left alone without loading Alembic, which
    takes a quarter of a second: every CLI command opens the database. An empty one gets the
    newest schema in one step, without replaying the migrations (store/fresh_schema.py)."""
    head = head_revision()
    if current_revision(engine) == head:
        return
    from nylas_engine.store.fresh_schema import create_fresh, is_empty

    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        if is_empty(conn):
            create_fresh(conn, head)
        else:  # an older schema, or one another process made while we waited for the lock
            _upgrade(conn)
        from nylas_engine.store.thread_summary import fill_missing

        fill_missing(conn)  # data the migrations leave to the running version's code


def _upgrade(conn: Connection) -> None:
    """Alembic's upgrade to the newest revision, in `conn`'s transaction."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, "head")


class Database:
    """The engine plus a session factory; one per process."""

    def __init__(
        self, url: str, *, run_migrations: bool = True, pool_size: int | None = None
    ) -> None:
        self.url = url
        self.engine = make_engine(url, pool_size)
        if run_migrations:
            migrate(self.engine)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        from nylas_engine.delta import log
        from nylas_engine.store import dav_writeback, leases, metadata, thread_summary

        log.install(self.sessions)
        metadata.install(self.sessions)
        thread_summary.install(self.sessions)
        dav_writeback.install(self.sessions)
        leases.install_fencing(self.sessions)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session committed on success and rolled back on error."""
        session = self.sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"
