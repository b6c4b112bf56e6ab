"""A throwaway PostgreSQL server for tests: `PostgresServer().start()` runs `initdb` into a
temp directory of its own, starts `postgres` on a free loopback port with trust authentication, and
`url()` names a fresh database on it. Used when `NYLAS_TEST_DB=postgresql` (see conftest.py).

PostgreSQL refuses to run as root: as root, the cluster belongs to the `postgres` user the
Debian package creates (or `nobody`), and its directory is handed over to it (which is why
it is not under pytest's private tmp dir). `stop()` removes it.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from nylas.testing import free_port

_DATABASES = itertools.count()
BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


def _tool(name: str) -> str:
    found = shutil.which(name) or next(
        (str(d / name) for d in BIN_DIRS if (d / name).exists()), None
    )
    if found is None:
        raise RuntimeError(f"{name} not found: install PostgreSQL (apt-get install postgresql)")
    return found


class PostgresServer:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="nylas-test-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self._user: str | None = None

    def _run(self, *cmd: str) -> None:
        if self._user is not None:
            cmd = ("runuser", "-u", self._user, "--", *cmd)
        subprocess.run(cmd, check=True, capture_output=True, cwd=self.dir)

    def start(self) -> PostgresServer:
        if os.geteuid() == 0:
            self._user = "postgres" if _has_user("postgres") else "nobody"
            entry = pwd.getpwnam(self._user)
            os.chown(self.dir, entry.pw_uid, entry.pw_gid)
        self._run(_tool("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres")
        options = f"-h 127.0.0.1 -p {self.port} -k {self.dir} -c fsync=off"
        log = str(self.dir / "postgres.log")
        self._run(_tool("pg_ctl"), "-D", str(self.data), "-l", log, "-o", options, "-w", "start")
        return self

    def url(self) -> str:
        """A new, empty database on this server."""
        import psycopg

        name = f"nylas_test_{next(_DATABASES)}"
        deadline = time.monotonic() + 30
        while True:
            try:
                with psycopg.connect(self._dsn("postgres"), autocommit=True) as conn:
                    conn.execute(f"CREATE DATABASE {name}")
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def _dsn(self, database: str) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={database}"

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run(_tool("pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True
