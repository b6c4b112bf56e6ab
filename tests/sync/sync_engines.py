"""`SyncEngine`: a live engine process plus the helpers the sync tests need."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from dovecot import Dovecot

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
        self,
        server: Dovecot,
        user: str,
        password: str,
        *extra: str,
        security: str = "plain",
        port: int | None = None,
    ) -> dict[str, Any]:
        """`nylas-engine accounts add` for a Dovecot mailbox (password passed in a file), over
        `security` (plain, tls or starttls) to `port` (the server's IMAP port by default)."""
        secret = Path(self.data_dir) / f"password-{user}"
        secret.write_text(password + "\n")
        out = self.cli(
            "accounts", "add", "--email", user, "--json", "--imap-host", server.host,
            "--imap-port", str(port or server.imap_port), f"--{security}",
            "--password-file", str(secret), *extra,
        )  # fmt: skip
        secret.unlink()
        result: dict[str, Any] = json.loads(out)
        return result

    def client(self, token: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, auth=(token, ""), timeout=30)
