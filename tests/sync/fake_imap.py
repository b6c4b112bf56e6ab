"""A fake IMAP server for the attacks no real server can stage: it accepts any login (the
attacker's own server in the takeover tests), or refuses every login with a distinctive
banner (to check that errors do not pass on what a server said).

It speaks just enough IMAP4rev1 for the engine's check of a new account (greeting,
CAPABILITY, LOGIN, NOOP, LOGOUT), in a thread on a free loopback port, and records the
logins it saw.
"""

from __future__ import annotations

import socketserver
import threading
from typing import Any

from nylas.testing import free_port

BANNER = "FakeIMAP-7f3a banner: internal host db-01.corp, build 4.2.1"
CAPABILITIES = "IMAP4rev1 AUTH=PLAIN LITERAL+"


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        fake = self.server.fake
        fake.connections += 1
        listed = f"[CAPABILITY {CAPABILITIES}] " if fake.greeting_capabilities else ""
        self._send(f"* OK {listed}{BANNER}")
        while line := self.rfile.readline(65536):
            tag, _, rest = line.decode("utf-8", "replace").rstrip("\r\n").partition(" ")
            command, _, args = rest.partition(" ")
            command = command.upper()
            fake.commands.append(command)
            if command == "CAPABILITY":
                self._send(f"* CAPABILITY {CAPABILITIES}", f"{tag} OK CAPABILITY completed")
            elif command == "LOGIN":
                fake.logins.append(args)
                if fake.accept:
                    self._send(f"{tag} OK [CAPABILITY {CAPABILITIES}] Logged in")
                else:
                    self._send(f"{tag} NO [AUTHENTICATIONFAILED] {BANNER}: no such user")
            elif command == "NOOP":
                self._send(f"{tag} OK NOOP completed")
            elif command == "LOGOUT":
                self._send("* BYE Logging out", f"{tag} OK Logout completed")
                return
            else:
                self._send(f"{tag} BAD {BANNER}: unknown command")

    def _send(self, *lines: str) -> None:
        self.wfile.write("".join(f"{line}\r\n" for line in lines).encode())


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    fake: FakeImap


class FakeImap:
    """`accept=True`: every login succeeds; else every login is refused (with BANNER).
    `greeting_capabilities=False`: the greeting does not list the capabilities (a client
    must ask). `commands` records the commands received, in order."""

    def __init__(self, *, accept: bool = True, greeting_capabilities: bool = True) -> None:
        self.accept = accept
        self.greeting_capabilities = greeting_capabilities
        self.commands: list[str] = []
        self.host = "127.0.0.1"
        self.port = free_port()
        self.connections = 0
        self.logins: list[str] = []
        self._server = _Server((self.host, self.port), _Handler)
        self._server.fake = self
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def settings(self, user: str, password: str, **extra: Any) -> dict[str, Any]:
        """The `settings` of a /connect/authorize body pointing at this server."""
        return {
            "imap_host": self.host,
            "imap_port": self.port,
            "imap_username": user,
            "imap_password": password,
            "ssl_required": False,
            **extra,
        }

    def start(self) -> FakeImap:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeImap:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
