"""A real Cyrus IMAP (Debian's 3.6) for the sync tests.

Cyrus keeps every personal folder under the inbox: `NAMESPACE (("INBOX." "."))` with
`altnamespace: no` and `unixhierarchysep: no`, as Debian configures it and as many hosted
servers run it, so a folder the API shows as `Archive` is `INBOX.Archive` on the server.

`Cyrus().start()` writes an imapd.conf and a cyrus.conf into a temp directory of its own (the
configuration directory, the mail partition and the SASL password database are there too) and
runs Cyrus's master process in the foreground, as our child, on free loopback ports: never
the system service, and several instances can run side by side. The master is started as
root and runs itself and its services as the `cyrus` user the packages create, which owns
those directories. The services get no `-C` from the master, so each command in cyrus.conf
names our imapd.conf itself (else they would use /etc/imapd.conf and /var/lib/cyrus).

Users log in with their address (`virtdomains: userid`): the password is checked against the
instance's sasldb (`sasl_pwcheck_method: auxprop`, written with `saslpasswd2 -f`), which the
library reads at each login, so `new_user()` adds one without a restart. The INBOX and the
special folders (with their SPECIAL-USE flags) are created at the first login
(`autocreate_quota: 0`, `autocreate_inbox_folders`, `xlist-*`).

Cyrus logs only to syslog; with no /dev/log (containers) nothing is kept.
NYLAS_TEST_CYRUS_TELEMETRY=1 records each user's IMAP sessions, both ways, instead.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from imap_server import PASSWORD, SPECIAL_FOLDERS, LocalImapServer
from imapclient import IMAPClient

from nylas.testing import free_port

DOMAIN = "example.com"
SERVERNAME = "localhost"
ADMIN = "cyrusadmin"  # unqualified: a global admin (defaultdomain), never a mail user
# cyrus-common's master, lmtpd and tools; imapd and idled come in cyrus-imapd, which conflicts
# with dovecot-imapd (both provide imap-server), so scripts/test.sh unpacks it into /opt instead.
CYRUS_BIN = Path("/usr/lib/cyrus/bin")
IMAPD_BINS = (CYRUS_BIN, Path("/opt/cyrus-imapd/usr/lib/cyrus/bin"))
_INSTANCES = itertools.count()

IMAPD_CONF = """\
configdirectory: {dir}/config
defaultpartition: default
partition-default: {dir}/spool
proc_path: {dir}/config/proc
mboxname_lockpath: {dir}/config/lock
lmtpsocket: {dir}/config/socket/lmtp
idlesocket: {dir}/config/socket/idle
notifysocket: {dir}/config/socket/notify
servername: {servername}
defaultdomain: {servername}
virtdomains: userid
altnamespace: no
unixhierarchysep: no
admins: {admin}
allowplaintext: yes
sasl_pwcheck_method: auxprop
sasl_auxprop_plugin: sasldb
sasl_sasldb_path: {dir}/sasldb2
sasl_mech_list: PLAIN LOGIN
sasl_auto_transition: no
failedloginpause: 0
autocreate_quota: 0
autocreate_inbox_folders: {folders}
autocreate_subscribe_folders: {folders}
{xlist}imapidlepoll: 1
lmtp_downcase_rcpt: yes
umask: 077
"""

CYRUS_CONF = """\
START {{
  recover cmd="{bin}/ctl_cyrusdb -C {conf} -r"
}}
SERVICES {{
  imap cmd="{imapd_bin}/imapd -C {conf}" listen="127.0.0.1:{imap_port}" prefork=0 maxchild=200
  lmtp cmd="{bin}/lmtpd -C {conf} -a" listen="127.0.0.1:{lmtp_port}" prefork=0 maxchild=20
}}
EVENTS {{
  checkpoint cmd="{bin}/ctl_cyrusdb -C {conf} -c" period=30
}}
DAEMON {{
  idled cmd="{imapd_bin}/idled -C {conf}"
}}
"""


def _wait_for_port(
    port: int, timeout: float, master: subprocess.Popen[bytes], greeting: bytes = b"* OK"
) -> bool:
    """Wait until the service on `port` greets (the master listens before it can answer)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and master.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
                sock.settimeout(5)
                if sock.recv(100).startswith(greeting):
                    return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


class Cyrus(LocalImapServer):
    """One Cyrus instance in `base_dir` (created 0755, removed by `stop()` if we made it)."""

    LOG = "master.log"
    prefix = "INBOX."
    separator = "."

    def __init__(
        self,
        base_dir: str | Path | None = None,
        *,
        special_folders: dict[str, str] | None = None,
    ) -> None:
        self._made_dir = base_dir is None
        self.dir = Path(base_dir or tempfile.mkdtemp(prefix="cyrus-"))
        self.imap_port = free_port()
        self.lmtp_port = free_port()
        self._users = itertools.count(1)
        instance = next(_INSTANCES)
        # Distinct from the Dovecots' users: one engine may hold accounts on both.
        self.user_prefix = "cyrususer" if instance == 0 else f"c{instance}user"
        self.admin_password = f"admin-{os.getpid()}-{instance}"
        self.special_folders = SPECIAL_FOLDERS if special_folders is None else special_folders
        self._proc: subprocess.Popen[bytes] | None = None
        self._imapd_bin = CYRUS_BIN
        # Cyrus's telemetry: every IMAP session of a user, both ways, in config/log/<user>/
        # (a debugging aid: NYLAS_TEST_CYRUS_TELEMETRY=1; the directory is then left).
        self.telemetry = bool(os.environ.get("NYLAS_TEST_CYRUS_TELEMETRY"))

    # ------------------------------------------------------------------ lifecycle

    def _imapd_conf(self) -> str:
        folders = "|".join(self.special_folders)
        xlist = "".join(
            f"xlist-{flag.lstrip(chr(92)).lower()}: {name}\n"
            for name, flag in self.special_folders.items()
        )
        return IMAPD_CONF.format(
            dir=self.dir, servername=SERVERNAME, admin=ADMIN, folders=folders, xlist=xlist
        )

    @property
    def sasldb(self) -> Path:
        return self.dir / "sasldb2"

    def _saslpasswd(self, user: str, password: str) -> None:
        """Set `user`'s password in our sasldb (`user@domain` goes in as user + realm, which
        is how the library looks a login up; an unqualified one, the admin, under the
        servername). Written into a copy that then replaces the file:
        a login reading it meanwhile (the engine's, another test's) sees the one or the other,
        never a half-written database."""
        name, _, realm = user.rpartition("@") if "@" in user else (user, "", SERVERNAME)
        draft = self.dir / "sasldb2.new"
        if self.sasldb.exists():
            shutil.copyfile(self.sasldb, draft)
        else:
            draft.unlink(missing_ok=True)
        subprocess.run(
            ["saslpasswd2", "-p", "-c", "-f", str(draft), "-u", realm, name],
            input=password.encode(),
            check=True,
            capture_output=True,
            timeout=30,
        )
        if os.geteuid() == 0:
            cyrus = pwd.getpwnam("cyrus")
            os.chown(draft, cyrus.pw_uid, cyrus.pw_gid)
        os.chmod(draft, 0o600)
        os.replace(draft, self.sasldb)

    def start(self, timeout: float = 30.0, attempts: int = 3) -> Cyrus:
        binary = str(CYRUS_BIN / "master")
        imapd_bin = next((d for d in IMAPD_BINS if (d / "imapd").exists()), None)
        if not Path(binary).exists() or imapd_bin is None or not shutil.which("saslpasswd2"):
            raise RuntimeError(
                "cyrus is missing: apt-get install cyrus-common sasl2-bin, and cyrus-imapd"
                " (or its files unpacked into /opt/cyrus-imapd, as scripts/test.sh does)"
            )
        self._imapd_bin = imapd_bin
        if os.geteuid() != 0:
            raise RuntimeError("the test Cyrus runs as the cyrus user: start it as root")
        cyrus = pwd.getpwnam("cyrus")
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o755)
        for sub in ("config", "config/proc", "config/lock", "config/socket", "spool"):
            path = self.dir / sub
            path.mkdir(exist_ok=True)
            os.chown(path, cyrus.pw_uid, cyrus.pw_gid)
            os.chmod(path, 0o750)
        self._saslpasswd(ADMIN, self.admin_password)
        imapd_conf = self.dir / "imapd.conf"
        imapd_conf.write_text(self._imapd_conf())
        os.chmod(imapd_conf, 0o644)
        for attempt in range(attempts):
            if attempt:  # a port taken between free_port() and the master's bind: new ones
                self.imap_port, self.lmtp_port = free_port(), free_port()
            if self._run_master(binary, timeout / attempts):
                return self
        raise RuntimeError(f"cyrus did not answer in {timeout}s:\n{self.log()}")

    def _run_master(self, binary: str, timeout: float) -> bool:
        """Start the master (in the foreground: it is our child) with this instance's files;
        True once the IMAP service greets, else the master is stopped again."""
        imapd_conf = self.dir / "imapd.conf"
        cyrus_conf = self.dir / "cyrus.conf"
        # Services get no -C from the master: each command names the configuration itself.
        cyrus_conf.write_text(
            CYRUS_CONF.format(
                bin=CYRUS_BIN,
                imapd_bin=self._imapd_bin,
                conf=imapd_conf,
                imap_port=self.imap_port,
                lmtp_port=self.lmtp_port,
            )
        )
        os.chmod(cyrus_conf, 0o644)
        with (self.dir / "master.log").open("ab") as log:
            self._proc = subprocess.Popen(
                [binary, "-C", str(imapd_conf), "-M", str(cyrus_conf),
                 "-p", str(self.dir / "master.pid"), "-D"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )  # fmt: skip
        if _wait_for_port(self.imap_port, timeout, self._proc) and _wait_for_port(
            self.lmtp_port, 5, self._proc, greeting=b"220"
        ):
            return True
        self.stop(keep=True)
        return False

    def stop(self, *, keep: bool = False) -> None:
        """Stop the master we started and every process it started; wait until they are gone.
        `keep` leaves the directory so `start()` can bring the same server back."""
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.terminate()  # the master ends its services, and waits for them
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        self._kill_sessions()
        if self._made_dir and not keep and not self.telemetry:  # logs kept to be read
            shutil.rmtree(self.dir, ignore_errors=True)

    def _kill_sessions(self) -> None:
        """End whatever of this instance outlived its master (a session still busy, or all of
        them if the master was killed): found by our imapd.conf on their command line."""
        conf = str(self.dir / "imapd.conf").encode()
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                if conf in (proc / "cmdline").read_bytes().split(b"\0"):
                    os.kill(int(proc.name), signal.SIGKILL)
            except OSError:
                continue

    # ------------------------------------------------------------------ users and mail

    def new_user(self, password: str = PASSWORD) -> tuple[str, str]:
        """A user with a fresh mailbox (created at the first login); returns (email,
        password)."""
        email = f"{self.user_prefix}{next(self._users)}@{DOMAIN}"
        self._saslpasswd(email, password)
        if self.telemetry:
            log = self.dir / "config" / "log" / email
            log.mkdir(parents=True)
            cyrus = pwd.getpwnam("cyrus")
            for path in (log.parent, log):
                os.chown(path, cyrus.pw_uid, cyrus.pw_gid)
        return email, password

    def set_password(self, user: str, password: str) -> None:
        self._saslpasswd(user, password)

    def admin(self) -> IMAPClient:
        """A connection as the server's administrator (sees every user's mailboxes as
        `user.<name>`)."""
        return self.client(ADMIN, self.admin_password)


@pytest.fixture(scope="session")
def cyrus() -> Iterator[Cyrus]:
    """One Cyrus for the whole test session; tests isolate themselves with `new_user()`."""
    server = Cyrus().start()
    yield server
    server.stop()
