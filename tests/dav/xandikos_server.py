"""A CalDAV server that schedules (RFC 6638): Xandikos in a temp dir, one user, no login.

Xandikos says `calendar-auto-schedule` in its DAV header and, as the organizer's server,
sends iTIP invitations and cancellations to attendees who aren't its own users by iMIP,
through the SMTP server given (`--imip-send smtp`). Its principal is `/user/`, whose
calendar-user address is `email`; it ignores the Basic login the engine sends.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from radicale_server import ServerProcess, _free_port


class Xandikos(ServerProcess):
    def __init__(self, root: Path, email: str, smtp_host: str, smtp_port: int) -> None:
        self.root, self.email = root, email
        self.smtp = (smtp_host, smtp_port)
        self.port = _free_port()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Xandikos:
        command = [
            sys.executable, "-m", "xandikos", "serve", "--defaults", "--no-detect-systemd",
            "-d", str(self.root / "data"), "--state-dir", str(self.root / "state"),
            "-l", "127.0.0.1", "-p", str(self.port),
            "--imip-send", "smtp", "--smtp-from", "calendar@example.net",
            "--smtp-host", self.smtp[0], "--smtp-port", str(self.smtp[1]),
        ]  # fmt: skip
        env = {**os.environ, "EMAIL": self.email}
        self.launch(command, self.root / "xandikos.log", self.url + "/", env)
        return self
