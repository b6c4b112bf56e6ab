"""Fixtures for the IMAP sync tests: a real Dovecot (see dovecot.py) and engines that sync it.

* `offline_engine`: serves the API but runs no sync workers; tests drive the sync with
  `nylas-engine sync --once` and read the results over HTTP.
* `sync_engine`: syncs in the background as `nylas-engine serve` does for users, with a short
  poll interval and account scan so tests see changes quickly.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from dovecot import Dovecot, dovecot, mailbox, smtp_relay  # noqa: F401  (fixtures)

from nylas.testing import LocalEngine


class SyncEngine(LocalEngine):
    _db: Any = None

    @property
    def db(self) -> Any:
        if self._db is None:
            from nylas_engine.store.db import Database

            self._db = Database(f"sqlite:///{self.data_dir / 'engine.db'}", run_migrations=False)
        return self._db

    def add_imap_account(
        self, server: Dovecot, user: str, password: str, *extra: str
    ) -> dict[str, Any]:
        """`nylas-engine accounts add` for a Dovecot mailbox (password passed in a file)."""
        secret = Path(self.data_dir) / f"password-{user}"
        secret.write_text(password + "\n")
        out = self.cli(
            "accounts", "add", "--email", user, "--json",
            "--imap-host", server.host, "--imap-port", str(server.imap_port), "--plain",
            "--password-file", str(secret), *extra,
        )  # fmt: skip
        secret.unlink()
        import json

        result: dict[str, Any] = json.loads(out)
        return result

    def client(self, token: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, auth=(token, ""), timeout=30)


@pytest.fixture(scope="session")
def offline_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SyncEngine]:
    engine = SyncEngine(tmp_path_factory.mktemp("offline"), env={"NYLAS_ENGINE_SYNC": "0"})
    engine.start()
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def sync_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SyncEngine]:
    engine = SyncEngine(
        tmp_path_factory.mktemp("syncing"),
        env={
            "NYLAS_ENGINE_SYNC_POLL": "2",
            "NYLAS_ENGINE_SYNC_SCAN": "0.5",
            "NYLAS_ENGINE_SYNC_RETRY": "0.5",
        },
    )
    engine.start()
    yield engine
    engine.close()
