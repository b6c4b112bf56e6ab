"""POST /connect/authorize is no port scanner or relay (issue 10).

In token mode the engine connects only to public mail hosts, and to those its operator
allows (`--allow-mail-hosts`, NYLAS_ENGINE_ALLOW_MAIL_HOSTS); the rest are refused with a
400 before any connection. The checks are bounded (a few at once per app and per client
IP, all within a deadline, failures counted as failed sign-ins) and their errors do not
pass on what the server said.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from dovecot import Dovecot
from fake_imap import BANNER, FakeImap

from nylas.testing import LocalEngine

pytestmark = pytest.mark.usefixtures("new_database")

MakeEngine = Callable[..., LocalEngine]


@pytest.fixture(scope="module")
def start_engine(
    tmp_path_factory: pytest.TempPathFactory, new_database: Callable[[], str | None]
) -> Iterator[MakeEngine]:
    engines: list[LocalEngine] = []

    def start(*extra_args: str, **env: str) -> LocalEngine:
        engine = LocalEngine(
            tmp_path_factory.mktemp("hosts"),
            auth="token",
            db_url=new_database(),
            extra_args=list(extra_args),
            env={"NYLAS_ENGINE_ALLOW_MAIL_HOSTS": "", "NYLAS_ENGINE_SYNC": "0", **env},
        )
        engines.append(engine.start())
        return engine

    yield start
    for engine in engines:
        engine.close()


@pytest.fixture(scope="module")
def strict(start_engine: MakeEngine) -> LocalEngine:
    """A token-mode engine that allows no private mail hosts."""
    return start_engine()


@pytest.fixture(scope="module")
def allowing(start_engine: MakeEngine) -> LocalEngine:
    """A token-mode engine whose operator allows loopback (`serve --allow-mail-hosts`)."""
    return start_engine("--allow-mail-hosts", "127.0.0.0/8")


def authorize(
    engine: LocalEngine, settings: dict[str, Any], client_id: str | None = None
) -> httpx.Response:
    client_id = client_id or engine.create_app("Connector")["client_id"]
    email = settings.get("imap_username") or "someone@example.com"
    body = {"client_id": client_id, "email_address": email, "settings": settings}
    return httpx.post(engine.url + "/connect/authorize", json=body, timeout=60)


def settings_for(host: str, port: int = 143, **extra: Any) -> dict[str, Any]:
    return {
        "imap_host": host,
        "imap_port": port,
        "imap_password": "pw",
        "ssl_required": False,
        **extra,
    }


class Listener:
    """A listening socket that records what connects (accepting in a thread). With
    `dribble`, it answers each connection a byte every half second and never a full line,
    which no socket timeout catches: only the engine's deadline ends such a check."""

    def __init__(self, *, dribble: bool = False) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.sock.getsockname()[1]
        self.dribble = dribble
        self.accepted: list[socket.socket] = []
        self.arrived = threading.Condition()
        self.closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.arrived:
                self.accepted.append(conn)
                self.arrived.notify_all()
            if self.dribble:
                threading.Thread(target=self._dribble, args=(conn,), daemon=True).start()

    def _dribble(self, conn: socket.socket) -> None:
        for byte in b"* OK " + b"." * 10_000:
            if self.closed.wait(0.5):
                return
            try:
                conn.sendall(bytes([byte]))
            except OSError:
                return

    def wait_for(self, count: int) -> None:
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.accepted) >= count, timeout=30)

    def close(self) -> None:
        self.closed.set()
        self.sock.close()
        for conn in self.accepted:
            conn.close()
        self._thread.join(5)


@pytest.fixture
def listener() -> Iterator[Listener]:
    found = Listener()
    yield found
    found.close()


def test_loopback_is_refused_before_any_connection(strict, listener):
    app = strict.create_app("Scanner")["client_id"]
    for host in ("127.0.0.1", "localhost", "127.1", "2130706433", "::ffff:127.0.0.1", "[::1]"):
        refused = authorize(strict, settings_for(host, listener.port), app)
        assert refused.status_code == 400, (host, refused.text)
        assert refused.json()["type"] == "invalid_request_error"
        assert "--allow-mail-hosts" in refused.json()["message"]
    # The SMTP host is checked as well, before the IMAP server is contacted.
    smtp = settings_for("8.8.8.8", smtp_host="127.0.0.1", smtp_port=listener.port)
    refused = authorize(strict, smtp, app)
    assert refused.status_code == 400, refused.text
    assert "SMTP" in refused.json()["message"]
    assert listener.accepted == []


@pytest.mark.parametrize(
    "host",
    [
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "240.0.0.1",
        "192.0.2.1",
        "fc00::1",
        "fe80::1",
        "::",
        "2002:7f00:1::1",
    ],
)
def test_private_and_reserved_addresses_are_refused(strict, host):
    refused = authorize(strict, settings_for(host))
    assert refused.status_code == 400, refused.text
    assert refused.json()["message"].startswith("The IMAP host is not a public address")


def test_the_allowed_hosts_let_the_local_dovecot_through(allowing, dovecot: Dovecot, mailbox):
    user, password = mailbox
    settings = {**settings_for(dovecot.host, dovecot.imap_port), "imap_password": password}
    settings["imap_username"] = user
    connected = authorize(allowing, settings)
    assert connected.status_code == 200, connected.text
    assert set(connected.json()) == {"code"}


def test_errors_do_not_pass_on_what_the_server_said(allowing):
    with FakeImap(accept=False) as refusing:
        refused = authorize(allowing, refusing.settings("refused@example.com", "pw"))
    assert refused.status_code == 403, refused.text
    assert refused.json()["message"] == "Could not log in to the IMAP server."
    assert "FakeImap" not in refused.text and "db-01" not in refused.text
    assert BANNER not in refused.text

    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    unreachable = authorize(allowing, settings_for("127.0.0.1", port))
    assert unreachable.status_code == 503, unreachable.text
    assert unreachable.json()["message"] == "Could not connect to the IMAP server."


def test_concurrent_checks_are_capped_per_app(allowing):
    """A server that answers a byte at a time holds each check until its deadline (10 s);
    meanwhile the app's fourth attempt is turned away at once with 429 and Retry-After."""
    listener = Listener(dribble=True)
    app = allowing.create_app("Impatient")["client_id"]
    settings = settings_for("127.0.0.1", listener.port)
    with contextlib.closing(listener), ThreadPoolExecutor(3) as pool:
        held = [pool.submit(authorize, allowing, settings, app) for _ in range(3)]
        listener.wait_for(3)
        over = authorize(allowing, settings, app)
        assert over.status_code == 429, over.text
        assert int(over.headers["Retry-After"]) > 0
        assert len(listener.accepted) == 3
        # Each held check ends at its deadline with the same answer as a closed port.
        for future in held:
            response = future.result()
            assert response.status_code == 503, response.text
            assert response.json()["message"] == "Could not connect to the IMAP server."


def test_failed_checks_count_as_failed_sign_ins(start_engine):
    engine = start_engine("--allow-mail-hosts", "127.0.0.1", NYLAS_ENGINE_AUTH_FAILURE_LIMIT="2")
    app = engine.create_app("Guesser")["client_id"]
    with FakeImap(accept=False) as refusing:
        settings = refusing.settings("someone@example.com", "guess")
        for _ in range(2):
            assert authorize(engine, settings, app).status_code == 403
        limited = authorize(engine, settings, app)
        assert limited.status_code == 429, limited.text
        assert "Retry-After" in limited.headers
        assert refusing.connections == 2


def test_a_bad_allow_list_stops_the_engine_from_starting(tmp_path):
    engine = LocalEngine(
        tmp_path, auth="token", extra_args=["--allow-mail-hosts", "10.0.0.0/8, a b"]
    )
    with pytest.raises(RuntimeError, match="allow-mail-hosts"):
        engine.start(timeout=20)
    engine.close()


def test_an_allowed_name_is_allowed_by_name_only(start_engine, dovecot: Dovecot, mailbox):
    """NYLAS_ENGINE_ALLOW_MAIL_HOSTS=localhost lets `localhost` through, not its address."""
    engine = start_engine(NYLAS_ENGINE_ALLOW_MAIL_HOSTS="localhost")
    user, password = mailbox
    settings = settings_for("localhost", dovecot.imap_port, imap_username=user)
    settings["imap_password"] = password
    by_address = authorize(engine, {**settings, "imap_host": "127.0.0.1"})
    assert by_address.status_code == 400, by_address.text
    by_name = authorize(engine, settings)
    assert by_name.status_code == 200, by_name.text


def _wait_for_state(engine: LocalEngine, token: str, wanted: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    seen: dict[str, Any] = {}
    for _ in range(150):
        seen = httpx.get(engine.url + "/account", headers=headers, timeout=30).json()
        if seen.get("sync_state") == wanted:
            return seen
        time.sleep(0.2)
    raise AssertionError(f"sync_state stayed {seen.get('sync_state')!r}, not {wanted!r}")


def test_a_callers_hosts_are_checked_again_on_every_connection(
    tmp_path, new_database, dovecot: Dovecot, mailbox, smtp_relay
):
    """Hosts a caller chose are checked when the engine syncs and sends, not only when the
    account is connected: after the operator narrows the allow list (as a DNS answer that
    changes to a private address would), sync stops with connerror and /send answers 503
    without connecting; an account the operator added on the same server keeps syncing."""
    user, password = mailbox
    db_url = new_database()
    loopback = ["--allow-mail-hosts", "127.0.0.0/8"]
    env = {"NYLAS_ENGINE_ALLOW_MAIL_HOSTS": ""}
    with LocalEngine(tmp_path, auth="token", db_url=db_url, extra_args=loopback, env=env) as first:
        app = first.create_app("Connector")
        settings = settings_for(
            dovecot.host,
            dovecot.imap_port,
            imap_username=user,
            smtp_host=smtp_relay.host,
            smtp_port=smtp_relay.port,
        )
        settings["imap_password"] = password
        code = authorize(first, settings, app["client_id"])
        assert code.status_code == 200, code.text
        token = httpx.post(
            first.url + "/connect/token",
            json={**{k: app[k] for k in ("client_id", "client_secret")}, **code.json()},
            timeout=30,
        ).json()["access_token"]
        _wait_for_state(first, token, "running")

    operators, operators_password = dovecot.new_user()
    env["OPERATOR_PASSWORD"] = operators_password
    with LocalEngine(tmp_path, auth="token", db_url=db_url, env=env) as strict:
        assert _wait_for_state(strict, token, "connerror")["sync_state"] == "connerror"
        headers = {"Authorization": f"Bearer {token}"}
        sent = httpx.post(
            strict.url + "/send",
            headers=headers,
            json={"to": [{"email": user}], "subject": "checked", "body": "hello"},
            timeout=60,
        )
        assert sent.status_code == 503, sent.text
        assert sent.json()["message"] == "Could not connect to the SMTP server."
        # The operator's own account on the same loopback server is trusted.
        added = strict.cli(
            "accounts", "add", "--email", operators, "--json", "--plain",
            "--imap-host", dovecot.host, "--imap-port", str(dovecot.imap_port),
            "--password-env", "OPERATOR_PASSWORD",
        )  # fmt: skip
        own = strict.cli("tokens", "create", json.loads(added)["id"]).strip()
        assert _wait_for_state(strict, own, "running")["sync_state"] == "running"


@pytest.mark.parametrize("in_greeting", [True, False])
def test_a_connection_takes_the_capabilities_the_greeting_lists(in_greeting):
    """Servers that list their capabilities in the greeting (Dovecot, Cyrus, Gmail, Microsoft
    365) are not asked for them again before the login: one round trip less for every
    connection the sync opens. A server whose greeting does not list them is asked."""
    from fake_imap import CAPABILITIES, FakeImap

    from nylas_engine.store.credentials import MailCredentials
    from nylas_engine.sync.imap import ServerSettings, close_quietly, connect_imap

    with FakeImap(greeting_capabilities=in_greeting) as fake:
        settings = ServerSettings(
            email="a@example.org",
            imap_host=fake.host,
            imap_port=fake.port,
            imap_username="a@example.org",
            security="plain",
        )
        client = connect_imap(settings, MailCredentials("secret"))
        try:
            assert set(client.capabilities()) == {c.upper().encode() for c in CAPABILITIES.split()}
        finally:
            close_quietly(client)
    assert fake.commands[:2] == (["LOGIN", "LOGOUT"] if in_greeting else ["CAPABILITY", "LOGIN"])
