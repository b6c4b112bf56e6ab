"""Shared fixtures: a live engine process per test session, fresh accounts per test.

Accounts are created straight in the engine's database (the same SQLite file the server
reads) because spawning the CLI for each test would cost a second; everything a test checks
goes through HTTP.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from slow_first import spread_slow_first, worker_count

from nylas.testing import LocalEngine

_counter = itertools.count()

# The engines' CLI commands (accounts, apps, tokens, import, sync --once) run inside the test
# process: a new Python for each cost most of a second of CPU. The engines themselves, and
# the tests about the CLI as a program (tests/engine/test_cli*.py), still run processes.
LocalEngine.cli_in_process = True


class Engine(LocalEngine):
    """LocalEngine plus fast in-process helpers for test setup."""

    _db: Any = None

    @property
    def db(self) -> Any:
        if self._db is None:
            from nylas_engine.store.db import Database

            self._db = Database(
                self.db_url or f"sqlite:///{self.data_dir / 'engine.db'}", run_migrations=False
            )
        return self._db

    def new_account(self, email: str | None = None, **fields: Any) -> dict[str, Any]:
        from nylas_engine.store.accounts import create_account

        email = email or f"user{next(_counter)}@example.com"
        with self.db.session() as session:
            account = create_account(session, email, name=fields.pop("name", "Test User"), **fields)
            return {"id": account.public_id, "email_address": email}

    def client(self, token: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, auth=(token, ""), timeout=30, verify=self.verify)


# `NYLAS_TEST_DB=postgresql`: the shared engine stores into a PostgreSQL server started for
# the run (tests/postgres.py) instead of SQLite; `make test` runs the engine and SDK tests
# both ways.
TEST_DB = os.environ.get("NYLAS_TEST_DB", "sqlite")


# What puts a test's data in the database under test; in the PostgreSQL run, tests without
# any of these would only repeat the SQLite run (their engines keep a SQLite file of their own).
_DATABASE_FIXTURES = {"engine", "database_url", "new_database"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if TEST_DB != "sqlite":
        uses = [bool(_DATABASE_FIXTURES & set(getattr(i, "fixturenames", ()))) for i in items]
        keep = [item for item, used in zip(items, uses, strict=True) if used]
        dropped = [item for item, used in zip(items, uses, strict=True) if not used]
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = keep
    # The longest modules first in the workers' slices (tests/slow_first.py).
    modules = {n: item.nodeid.split("::", 1)[0] for n, item in enumerate(items)}
    items[:] = spread_slow_first(items, modules, worker_count())


@pytest.fixture(scope="session")
def new_database() -> Iterator[Callable[[], str | None]]:
    """Makes a database of its own for an engine a test starts: None (the engine's SQLite
    file) or a new database on the run's PostgreSQL server."""
    if TEST_DB == "sqlite":
        yield lambda: None
        return
    assert TEST_DB == "postgresql", f"NYLAS_TEST_DB={TEST_DB}: expected sqlite or postgresql"
    from postgres import PostgresServer

    server = PostgresServer().start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def database_url(new_database: Callable[[], str | None]) -> str | None:
    return new_database()


@pytest.fixture(scope="session")
def engine(tmp_path_factory: pytest.TempPathFactory, database_url: str | None) -> Iterator[Engine]:
    eng = Engine(tmp_path_factory.mktemp("engine"), db_url=database_url)
    eng.start()
    yield eng
    eng.close()


@pytest.fixture
def account(engine: Engine) -> dict[str, Any]:
    return engine.new_account()


@pytest.fixture
def api(engine: Engine, account: dict[str, Any]) -> Iterator[httpx.Client]:
    """Raw HTTP client authenticated as `account` (open mode: the account id is the token)."""
    with engine.client(account["id"]) as client:
        yield client


@pytest.fixture
def pristine_read_only_attrs() -> Iterator[None]:
    """nylas-legacy keeps one read-only set shared by every model class, and creating a
    Webhook adds "version" to it, after which drafts are saved without their version (a bug
    of that client, against any server). Other modules of a run create webhooks, so tests
    that save drafts with it get the set as the client ships it."""
    from nylas_legacy.client.restful_models import NylasAPIObject

    shared = NylasAPIObject.read_only_attrs
    NylasAPIObject.read_only_attrs = {"id", "account_id", "object", "job_status_id"}
    yield
    NylasAPIObject.read_only_attrs = shared


@pytest.fixture
def listener() -> Iterator[Any]:
    """A real SMTP server on loopback that keeps what it receives (tests/engine/smtp_listener)."""
    from smtp_listener import SmtpListener

    with SmtpListener() as smtp:
        yield smtp


@pytest.fixture
def sender(engine: Engine, listener: Any) -> dict[str, Any]:
    """An account whose SMTP server is `listener`."""
    return engine.new_account(**listener.account_fields())


# ------------------------------------------------------------------ OAuth 2.0 accounts' servers
# A real OAuth 2.0 server playing Google or Microsoft (tests/oauth_server.py), a Dovecot that
# checks its bearer tokens by introspection, and an SMTP listener taking XOAUTH2 the same way.


@pytest.fixture(scope="module")
def provider() -> Iterator[Any]:
    from oauth_server import OAuthServer

    server = OAuthServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def oauth_dovecot(provider: Any) -> Iterator[Any]:
    from dovecot import Dovecot

    server = Dovecot(introspection_url=f"{provider.url}/introspect").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def oauth_smtp(provider: Any) -> Iterator[Any]:
    from smtp_listener import SmtpListener

    with SmtpListener(oauth=f"{provider.url}/introspect") as listener:
        yield listener
