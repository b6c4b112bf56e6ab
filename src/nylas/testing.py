"""Run a real local engine for tests: `LocalEngine` here, and the pytest plugin fixtures below.

Your own tests can talk to a real server instead of mocks:

    # conftest.py
    pytest_plugins = ["nylas.testing"]

    def test_inbox(nylas_client):           # an APIClient bound to a fresh account
        assert nylas_client.account.email_address.endswith("@example.com")

    @pytest.mark.anyio
    async def test_inbox_async(async_nylas_client):
        assert await async_nylas_client.threads.count() == 0

`nylas_engine` (session-scoped `LocalEngine`) and `nylas_account` (a fresh account dict) are
fixtures too; `nylas_engine.import_mail(account_id, "mail.mbox")` loads test mail.

`LocalEngine(tls=True)` serves HTTPS (`nylas-engine serve --tls-self-signed`) with a
certificate from its own local certificate authority: `engine.url` is `https://...`, and
clients trust `engine.ca_file` (`REQUESTS_CA_BUNDLE`, `SSL_CERT_FILE`, `NODE_EXTRA_CA_CERTS`,
`curl --cacert`) or `engine.ssl_context()` (httpx's `verify=`).

Needs the engine installed (`pip install 'nylas[engine]'`).
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from nylas import APIClient, AsyncAPIClient


_CLI_TURN = threading.Lock()


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A loopback port free now, and not one this process was given before.

    Nothing holds it until its user binds it: the kernel hands the same free port to the next
    asker, so a port given out and not yet bound would otherwise be given out twice.
    """
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


class _PortTaken(Exception):
    """`serve` found its port taken by another listener."""


class LocalEngine:
    """A `nylas-engine serve` subprocess on a free loopback port with its own data dir."""

    def __init__(
        self,
        data_dir: str | Path | None = None,
        *,
        auth: str = "open",
        db_url: str | None = None,
        extra_args: list[str] | None = None,
        env: dict[str, str] | None = None,
        tls: bool = False,
    ) -> None:
        self._tmp = None if data_dir else tempfile.TemporaryDirectory(prefix="nylas-engine-")
        self.data_dir = Path(data_dir or self._tmp.name)  # type: ignore[union-attr]
        self.auth = auth
        self.db_url = db_url
        self.extra_args = extra_args or []
        self.env = env or {}
        self.tls = tls
        self._set_port(free_port())
        self.process: subprocess.Popen[bytes] | None = None

    def _set_port(self, port: int) -> None:
        self.port = port
        self.url = f"{'https' if self.tls else 'http'}://127.0.0.1:{port}"

    # Run `cli()` commands inside this process (the engine's own `main`, with this engine's
    # environment, stdin and output captured, its databases closed afterwards) rather than in
    # a new Python each time, which costs most of a second of CPU to start and import. For
    # test suites that call the CLI often; `serve` is a process of its own either way.
    cli_in_process = False

    @property
    def ca_file(self) -> Path:
        """The CA that signed a TLS engine's certificate (made when the engine starts)."""
        return self.data_dir / "tls" / "ca.pem"

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that trusts this engine's certificate, and nothing else."""
        return ssl.create_default_context(cafile=str(self.ca_file))

    @property
    def verify(self) -> ssl.SSLContext | bool:
        """What to pass to httpx's `verify=` for this engine."""
        return self.ssl_context() if self.tls else True

    def _base(self) -> list[str]:
        cmd = [sys.executable, "-m", "nylas_engine", "--data-dir", str(self.data_dir)]
        if self.db_url:
            cmd += ["--db", self.db_url]
        return cmd

    def cli(self, *args: str, input: str | None = None) -> str:
        """Run an engine CLI command against this engine's data; returns its stdout."""
        if self.cli_in_process:
            return self._cli_here(list(args), input)
        done = subprocess.run(
            [*self._base(), *args],
            capture_output=True,
            text=True,
            input=input,
            env={**os.environ, **self.env},
            timeout=300,
        )
        if done.returncode != 0:
            raise RuntimeError(f"nylas-engine {' '.join(args)} failed:\n{done.stderr}")
        return done.stdout

    def _cli_here(self, args: list[str], input: str | None) -> str:
        import io
        import traceback
        from contextlib import redirect_stderr, redirect_stdout

        from sqlalchemy import event
        from sqlalchemy.engine import Connection, Engine

        from nylas_engine.cli import main

        out, err = io.StringIO(), io.StringIO()
        opened: set[Engine] = set()

        def remember(conn: Connection) -> None:
            opened.add(conn.engine)

        with _CLI_TURN:  # one at a time: the environment, umask and sys.std* are the process's
            saved_env = {key: os.environ.get(key) for key in self.env}
            saved_stdin, umask = sys.stdin, os.umask(0o077)
            os.environ.update(self.env)
            sys.stdin = io.StringIO(input or "")
            event.listen(Engine, "engine_connect", remember)
            try:
                with redirect_stdout(out), redirect_stderr(err):
                    main([*self._base()[3:], *args])  # after `python -m nylas_engine`
                code: object = 0
            except SystemExit as exc:  # as the interpreter reports it on exit
                code = exc.code
                if code is not None and not isinstance(code, int):
                    err.write(f"{code}\n")
                    code = 1
            except Exception:
                err.write(traceback.format_exc())
                code = 1
            finally:
                event.remove(Engine, "engine_connect", remember)
                sys.stdin = saved_stdin
                os.umask(umask)
                for key, value in saved_env.items():
                    if value is None:
                        os.environ.pop(key, None)
                    else:
                        os.environ[key] = value
                for engine in opened:
                    engine.dispose()
        if code:
            raise RuntimeError(f"nylas-engine {' '.join(args)} failed:\n{err.getvalue()}")
        return out.getvalue()

    def add_account(self, email: str = "tester@example.com", **options: Any) -> dict[str, Any]:
        args = ["accounts", "add", "--email", email, "--json"]
        for key, value in options.items():
            args += [f"--{key.replace('_', '-')}", str(value)]
        result: dict[str, Any] = json.loads(self.cli(*args))
        return result

    def import_mail(self, account: str, path: str | Path) -> str:
        """Import an mbox file or a Maildir into `account` (id or email); returns the summary."""
        return self.cli("import", account, str(path))

    def create_app(self, name: str = "Test App", redirect_uri: str | None = None) -> dict[str, Any]:
        args = ["apps", "create", "--name", name, "--json"]
        if redirect_uri:
            args += ["--redirect-uri", redirect_uri]
        result: dict[str, Any] = json.loads(self.cli(*args))
        return result

    def start(self, timeout: float = 90.0) -> LocalEngine:
        """Start `serve` and wait until it answers.

        The port is picked free when the engine is made (and kept across restarts), so another
        listener can take it before `serve` binds it; then a new free port is picked, a few
        times at most, and `port` and `url` change with it.
        """
        for _ in range(4):
            try:
                return self._start_once(timeout)
            except _PortTaken:
                self._set_port(free_port())
        return self._start_once(timeout)

    def _start_once(self, timeout: float) -> LocalEngine:
        self.log_path = self.data_dir / "engine.log"
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        # The log holds request lines of the engine's users: as private as the engine's data.
        log = os.fdopen(os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab")
        logged_before = log.seek(0, os.SEEK_END)
        cmd = [*self._base(), "serve", "--port", str(self.port), "--auth", self.auth]
        if self.tls:
            cmd.append("--tls-self-signed")
        self.process = subprocess.Popen(
            cmd + self.extra_args,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **self.env},
        )
        log.close()  # the engine has its own copy
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            exited = self.process.poll() is not None  # before the read: its last words are in
            with open(self.log_path, "rb") as logged:
                logged.seek(logged_before)
                log_text = logged.read().decode(errors="replace")
            if exited:
                self.process = None
                if f"port {self.port} is in use" in log_text:
                    raise _PortTaken(self.port)
                raise RuntimeError(f"engine exited early:\n{log_text}")
            try:
                # Only once this engine says it has bound the port (another listener may hold
                # it), and the CA file is written; a loaded machine can take seconds to answer.
                bound = "nylas-engine serving on" in log_text
                if bound and (not self.tls or self.ca_file.exists()):
                    httpx.get(self.url + "/", timeout=10.0, verify=self.verify)
                    return self
            except (httpx.TransportError, ssl.SSLError):  # not listening yet, or CA half-written
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"engine did not start in {timeout}s:\n{self.log_path.read_text()}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None

    def close(self) -> None:
        self.stop()
        if self._tmp:
            self._tmp.cleanup()

    def __enter__(self) -> LocalEngine:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


# ------------------------------------------------------------------------------ pytest plugin

try:
    import pytest
except ImportError:  # pragma: no cover - the plugin part needs pytest
    pytest = None  # type: ignore[assignment]

if pytest is not None:

    @pytest.fixture(scope="session")
    def nylas_engine() -> Iterator[LocalEngine]:
        """A live engine (open mode) shared by the test session."""
        with LocalEngine() as engine:
            yield engine

    @pytest.fixture
    def nylas_account(nylas_engine: LocalEngine) -> dict[str, Any]:
        """A fresh, empty account on the shared engine (its id is its token in open mode)."""
        return nylas_engine.add_account(f"tester-{time.monotonic_ns()}@example.com")

    @pytest.fixture
    def nylas_client(
        nylas_engine: LocalEngine, nylas_account: dict[str, Any]
    ) -> Iterator[APIClient]:
        """An `APIClient` authenticated as a fresh account of the shared engine."""
        from nylas import APIClient

        with APIClient(None, None, nylas_account["id"], nylas_engine.url) as client:
            yield client

    @pytest.fixture
    async def async_nylas_client(
        nylas_engine: LocalEngine, nylas_account: dict[str, Any]
    ) -> AsyncIterator[AsyncAPIClient]:
        """The `AsyncAPIClient` twin (needs an async test runner such as anyio's plugin)."""
        from nylas import AsyncAPIClient

        async with AsyncAPIClient(None, None, nylas_account["id"], nylas_engine.url) as client:
            yield client
