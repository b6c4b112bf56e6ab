"""A real CalDAV/CardDAV server for the tests: Radicale in a temp dir, htpasswd users."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class ServerProcess:
    """A server run as a child process, its output in a log file."""

    process: subprocess.Popen[bytes] | None = None

    def launch(
        self, command: list[str], log_path: Path, probe: str, env: dict[str, str] | None = None
    ) -> None:
        """Start `command` and wait until `probe` (a URL) answers; the log if it never does."""
        log = log_path.open("ab")
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(probe, timeout=1)
                return
            except httpx.TransportError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(log_path.read_text())

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None


class Radicale(ServerProcess):
    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = _free_port()
        self.users: dict[str, str] = {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add_user(self, name: str | None = None, password: str | None = None) -> tuple[str, str]:
        name = name or f"u{uuid.uuid4().hex[:8]}"
        password = password or uuid.uuid4().hex
        self.users[name] = password
        # Replaced in one step: Radicale reads the file on every request, and one that read
        # it half-written (other accounts' syncs poll every second) would refuse a user who
        # exists; the engine then marks that account invalid until its password changes.
        staged = self.root / "users.new"
        staged.write_text("".join(f"{u}:{p}\n" for u, p in self.users.items()))
        os.replace(staged, self.root / "users")
        return name, password

    @property
    def config(self) -> Path:
        """Its configuration file, written by `configure` (bench/dav_seed.py opens the storage
        it names before the server starts)."""
        return self.root / "config"

    def configure(self) -> Radicale:
        (self.root / "users").touch()
        self.config.write_text(
            f"[server]\nhosts = 127.0.0.1:{self.port}\n"
            f"[auth]\ntype = htpasswd\nhtpasswd_filename = {self.root / 'users'}\n"
            "htpasswd_encryption = plain\ndelay = 0\n"
            f"[storage]\nfilesystem_folder = {self.root / 'collections'}\n"
            "[rights]\ntype = owner_only\n[logging]\nlevel = warning\n"
        )
        return self

    def start(self) -> Radicale:
        self.configure()
        command = [sys.executable, "-m", "radicale", "--config", str(self.config)]
        self.launch(command, self.root / "radicale.log", self.url + "/.web/")
        return self
