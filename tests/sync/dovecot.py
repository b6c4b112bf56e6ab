"""A real Dovecot for the sync tests: IMAP (IDLE, CONDSTORE, QRESYNC, MOVE, SPECIAL-USE) + LMTP.

`Dovecot(base_dir).start()` writes a configuration into a temp directory, listens on free
loopback ports and keeps every user's Maildir there too, so several instances can run side by
side. Users live in a passwd-file that Dovecot re-reads when it changes: `new_user()` adds one
without a restart, which keeps each test in a mailbox of its own.

Facts this relies on are in /work/shared/notes/dovecot.md: `imap-login` refuses to run as
root, so the login and internal users stay `dovenull`/`dovecot`; the mail user is 65534 (never
uid 0) and the directories it needs are world-readable.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from imap_server import PASSWORD, SPECIAL_FOLDERS, LocalImapServer

from nylas.testing import free_port

MAIL_UID = 65534
POOL_SIZE = 1000  # users written before start (see new_user)
_INSTANCES = itertools.count()

CONFIG = """\
protocols = imap lmtp
listen = 127.0.0.1
base_dir = {dir}/run
state_dir = {dir}/state
log_path = {dir}/dovecot.log
{ssl}
auth_mechanisms = {mechanisms}
auth_failure_delay = 0
mail_location = maildir:{dir}/mail/%u
mail_uid = {uid}
mail_gid = {gid}
first_valid_uid = 0
default_internal_user = {internal_user}
default_internal_group = {internal_group}
default_login_user = {login_user}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {dir}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={dir}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    port = {imap_port}
  }}
  inet_listener imaps {{
    port = {imaps_port}
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {lmtp_port}
  }}
}}
protocol imap {{
  mail_max_userip_connections = 50
}}
# IDLE hears of new mail through inotify; past the kernel's limit of inotify instances per
# user (128 here, and every Dovecot of a test run serves its mail as one user) Dovecot looks
# every `mailbox_idle_check_interval` instead, 30 s by default: longer than a test waits.
mailbox_idle_check_interval = 1 secs
namespace inbox {{
  inbox = yes
{namespace}{mailboxes}}}
"""

# Dovecot's oauth2 passdb (checked after the passwd-file, which refuses a token): the bearer
# token is posted to the introspection endpoint, which must call it active for the user.
OAUTH2_PASSDB = """\
passdb {{
  driver = oauth2
  args = {conf}
}}
"""
OAUTH2_CONF = """\
introspection_mode = post
introspection_url = {url}
force_introspection = yes
username_attribute = email
active_attribute = active
active_value = true
"""

MAILBOX = """\
  mailbox {name} {{
    special_use = {flag}
    auto = subscribe
  }}
"""


def _until_dovecot_rereads() -> None:
    """Wait until the second after now begins: Dovecot looks at its passwd-file again at most
    once a second of its clock, so a login from then on sees what was just written."""
    written = time.time()
    time.sleep(math.floor(written) + 1.05 - written)


def _wait_for_port(port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


class Dovecot(LocalImapServer):
    """One Dovecot instance in `base_dir` (created 0755, removed by `stop()` if we made it)."""

    LOG = "dovecot.log"

    def __init__(
        self,
        base_dir: str | Path | None = None,
        *,
        capabilities: str | None = None,
        prefix: str = "",
        separator: str | None = None,
        acl: str | None = None,
        introspection_url: str | None = None,
        special_folders: dict[str, str] | None = None,
        tls: bool = False,
    ) -> None:
        self._made_dir = base_dir is None
        self.dir = Path(base_dir or tempfile.mkdtemp(prefix="dovecot-"))
        self.imap_port = free_port()
        self.lmtp_port = free_port()
        self._users = itertools.count(1)  # next user number (see new_user)
        # Users of a second server in one test run must not share addresses with the first
        # one's: one engine may hold accounts on both.
        instance = next(_INSTANCES)
        self.user_prefix = "user" if instance == 0 else f"s{instance}user"
        self._pid: int | None = None
        # A replacement capability list, to play an older server (no CONDSTORE, no MOVE).
        self.capabilities = capabilities
        # The personal namespace (RFC 2342): `prefix="INBOX.", separator="."` plays Cyrus or
        # Courier, where every folder lives under the inbox.
        self.prefix = prefix
        self.separator = separator
        # Access rights (RFC 4314) as lines of Dovecot's global ACL file, e.g. `Locked owner
        # lrs` (the owner may only look and read there): a server that refuses some commands.
        self.acl = acl
        # An OAuth 2.0 introspection endpoint (RFC 7662): logins with XOAUTH2/OAUTHBEARER
        # are then checked against it (passdb oauth2), besides the passwords.
        self.introspection_url = introspection_url
        # The folders every mailbox has, with their SPECIAL-USE flag (RFC 6154).
        self.special_folders = SPECIAL_FOLDERS if special_folders is None else special_folders
        # TLS as a hosted server has it: implicit TLS on `imaps_port`, STARTTLS on
        # `imap_port`, and no login before either (LOGINDISABLED). The certificate is for
        # the loopback names, signed by a local CA (`ca_file`) that no system trusts.
        self.tls = tls
        self.imaps_port = free_port() if tls else 0

    # ------------------------------------------------------------------ lifecycle

    def _config(self) -> str:
        if os.geteuid() == 0:
            uid, gid = MAIL_UID, MAIL_UID
            internal_user, internal_group, login_user = "dovecot", "dovecot", "dovenull"
        else:  # an unprivileged Dovecot runs everything as the current user
            import grp
            import pwd

            uid, gid = os.geteuid(), os.getegid()
            internal_user = login_user = pwd.getpwuid(uid).pw_name
            internal_group = grp.getgrgid(gid).gr_name
        mailboxes = "".join(
            MAILBOX.format(name=f'"{n}"' if " " in n else n, flag=f)
            for n, f in self.special_folders.items()
        )
        extra = f"imap_capability = {self.capabilities}\n" if self.capabilities else ""
        if self.acl is not None:
            acl_file = self.dir / "global-acl"
            acl_file.write_text(self.acl)
            os.chmod(acl_file, 0o644)
            extra += (
                "mail_plugins = $mail_plugins acl\n"
                "protocol imap {\n  mail_plugins = $mail_plugins imap_acl\n}\n"
                f"plugin {{\n  acl = vfile:{acl_file}\n}}\n"
            )
        if self.introspection_url is not None:
            oauth_conf = self.dir / "oauth2.conf.ext"
            oauth_conf.write_text(OAUTH2_CONF.format(url=self.introspection_url))
            os.chmod(oauth_conf, 0o644)
            extra += OAUTH2_PASSDB.format(conf=oauth_conf)
        ssl = "ssl = no\ndisable_plaintext_auth = no"
        if self.tls:
            from nylas_engine.tls import local_certificate

            files = local_certificate(self.dir / "certs")  # read by the master, as root
            ssl = (
                f"ssl = required\nssl_cert = <{files.cert}\nssl_key = <{files.key}\n"
                "disable_plaintext_auth = yes"
            )
        namespace = f"  prefix = {self.prefix}\n" if self.prefix else ""
        if self.separator:
            namespace += f"  separator = {self.separator}\n"
        return extra + CONFIG.format(
            dir=self.dir,
            uid=uid,
            gid=gid,
            internal_user=internal_user,
            internal_group=internal_group,
            login_user=login_user,
            imap_port=self.imap_port,
            imaps_port=self.imaps_port,
            lmtp_port=self.lmtp_port,
            ssl=ssl,
            mailboxes=mailboxes,
            namespace=namespace,
            mechanisms="plain login"
            + (" xoauth2 oauthbearer" if self.introspection_url is not None else ""),
        )

    @property
    def ca_file(self) -> Path:
        """The CA that signed a TLS server's certificate (see `tls`)."""
        return self.dir / "certs" / "tls" / "ca.pem"

    @property
    def config_path(self) -> Path:
        return self.dir / "dovecot.conf"

    def start(self, timeout: float = 20.0) -> Dovecot:
        binary = shutil.which("dovecot") or "/usr/sbin/dovecot"
        if not Path(binary).exists():
            raise RuntimeError("dovecot is missing: apt-get install dovecot-imapd dovecot-lmtpd")
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o755)
        mail = self.dir / "mail"
        mail.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            os.chown(mail, MAIL_UID, MAIL_UID)
        passwd = self.dir / "passwd"
        passwd.write_text(
            "".join(
                f"{self.user_prefix}{n}@example.com:{{PLAIN}}{PASSWORD}\n"
                for n in range(1, POOL_SIZE + 1)
            )
        )
        os.chmod(passwd, 0o644)
        self.config_path.write_text(self._config())
        # The master daemonizes; it must not inherit pipes we would wait on, hence a file.
        with (self.dir / "startup.log").open("w+") as out:
            done = subprocess.run(
                [binary, "-c", str(self.config_path)], stdout=out, stderr=out, timeout=30
            )
            if done.returncode != 0:
                out.seek(0)
                raise RuntimeError(f"dovecot failed to start: {out.read()}{self.log()}")
        pid_file = self.dir / "run" / "master.pid"
        deadline = time.monotonic() + timeout
        while self._pid is None and time.monotonic() < deadline:
            try:  # the file may not exist yet, or be written half
                self._pid = int(pid_file.read_text().split()[0])
            except (OSError, ValueError, IndexError):
                time.sleep(0.05)
        if not (_wait_for_port(self.imap_port, timeout) and _wait_for_port(self.lmtp_port, 5)):
            self.stop()
            raise RuntimeError(f"dovecot did not listen in {timeout}s:\n{self.log()}")
        return self

    def stop(self, *, keep: bool = False) -> None:
        """Stop the master process we started, and wait until it is gone. `keep` leaves the
        directory (mail, users) so `start()` can bring the same server back."""
        pid_file = self.dir / "run" / "master.pid"
        pid = self._pid
        if pid is None:
            with contextlib.suppress(OSError, ValueError, IndexError):
                pid = int(pid_file.read_text().split()[0])
        if pid is not None:
            try:
                os.kill(pid, signal.SIGTERM)
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline:
                    os.kill(pid, 0)
                    time.sleep(0.05)
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self._pid = None
        self._kill_sessions()
        if self._made_dir and not keep:
            shutil.rmtree(self.dir, ignore_errors=True)

    def _kill_sessions(self) -> None:
        """Mail sessions outlive the master for half a minute; a stopped server in a test
        should be gone, so end this instance's own imap/lmtp processes (found by their
        working directory, which is a mailbox under our directory)."""
        mail = str(self.dir / "mail")
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                if os.readlink(proc / "cwd").startswith(mail):
                    os.kill(int(proc.name), signal.SIGKILL)
            except OSError:
                continue

    def kick(self, user: str) -> None:
        """End `user`'s IMAP sessions (`doveadm kick`), as a provider does when access is
        revoked or the session's token expired."""
        binary = shutil.which("doveadm") or "/usr/bin/doveadm"
        subprocess.run(
            [binary, "-c", str(self.config_path), "kick", user],
            check=True,
            capture_output=True,
            timeout=30,
        )

    # ------------------------------------------------------------------ users and mail

    def new_user(self, password: str = PASSWORD) -> tuple[str, str]:
        """A user with a fresh, empty mailbox; returns (email, password).

        The users with the default password are written before Dovecot starts. Another
        password is appended to the passwd-file, which Dovecot re-reads when its size or time
        changed, looking at most once a second: this waits until the next second begins (half
        a second on average).
        """
        n = next(self._users)
        if password == PASSWORD and n <= POOL_SIZE:
            return f"{self.user_prefix}{n}@example.com", password
        # Outside the pool, which has the default password.
        email = f"{self.user_prefix}-custom{n}@example.com"
        with (self.dir / "passwd").open("a") as f:
            f.write(f"{email}:{{PLAIN}}{password}\n")
        _until_dovecot_rereads()
        return email, password

    def set_password(self, user: str, password: str) -> None:
        """Change a user's password (seen by the logins from the next second on)."""
        passwd = self.dir / "passwd"
        lines = [
            f"{user}:{{PLAIN}}{password}" if line.startswith(f"{user}:") else line
            for line in passwd.read_text().splitlines()
        ]
        passwd.write_text("\n".join(lines) + "\n")
        _until_dovecot_rereads()


class SmtpRelay:
    """An SMTP server (aiosmtpd, no AUTH, no TLS) that delivers into Dovecot over LMTP: the
    outgoing server of the test accounts, so mail sent through the engine really arrives."""

    def __init__(self, server: Dovecot) -> None:
        from aiosmtpd.controller import Controller

        self.server = server
        self.port = free_port()
        self.host = server.host
        self._controller = Controller(self, hostname=self.host, port=self.port)

    async def handle_DATA(self, _server: object, _session: object, envelope: Any) -> str:
        data = envelope.original_content or envelope.content
        for recipient in envelope.rcpt_tos:
            self.server.deliver(recipient, bytes(data), sender=envelope.mail_from)
        return "250 Delivered"

    def start(self) -> SmtpRelay:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()


@pytest.fixture(scope="session")
def smtp_relay(dovecot: Dovecot) -> Iterator[SmtpRelay]:
    relay = SmtpRelay(dovecot).start()
    yield relay
    relay.stop()


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    """One Dovecot for the whole test session; tests isolate themselves with `new_user()`."""
    server = Dovecot().start()
    yield server
    server.stop()


@pytest.fixture
def mailbox(dovecot: Dovecot) -> tuple[str, str]:
    """A fresh, empty mailbox on the shared Dovecot: (email, password)."""
    return dovecot.new_user()
