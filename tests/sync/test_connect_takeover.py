"""POST /connect/authorize cannot take an account over (issue 10).

The victim's account is connected to the real Dovecot and an SMTP listener of its own,
through its own app. The attacker knows the victim's address and has an app of its own, an
IMAP server that accepts any login (tests/sync/fake_imap.py) and an SMTP listener. The
engine's mail-host policy lets all of these through (they are on 127.0.0.1, which this
engine allows), so what stops the attacker is the rule of sync/accounts.py: an existing
account is re-authenticated only on the servers it has; moving it takes a linked app's
secret and a login to its current servers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from dovecot import Dovecot
from fake_imap import FakeImap
from smtp_listener import SmtpListener

from nylas.testing import LocalEngine

pytestmark = pytest.mark.usefixtures("new_database")


@pytest.fixture(scope="module")
def engine(
    tmp_path_factory: pytest.TempPathFactory, new_database: Callable[[], str | None]
) -> Iterator[LocalEngine]:
    env = {"NYLAS_ENGINE_ALLOW_MAIL_HOSTS": "127.0.0.1", "NYLAS_ENGINE_SYNC": "0"}
    with LocalEngine(
        tmp_path_factory.mktemp("takeover"), auth="token", db_url=new_database(), env=env
    ) as engine:
        yield engine


@dataclass
class Victim:
    email: str
    password: str
    app: dict[str, Any]
    token: str
    smtp: SmtpListener
    settings: dict[str, Any]


def authorize(
    engine: LocalEngine, client_id: str, email: str, settings: dict[str, Any], **extra: Any
) -> httpx.Response:
    body = {"client_id": client_id, "email_address": email, "settings": settings, **extra}
    return httpx.post(engine.url + "/connect/authorize", json=body, timeout=60)


def exchange(engine: LocalEngine, app: dict[str, Any], code: str) -> dict[str, Any]:
    body = {"client_id": app["client_id"], "client_secret": app["client_secret"], "code": code}
    response = httpx.post(engine.url + "/connect/token", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def dovecot_settings(
    dovecot: Dovecot, user: str, password: str, smtp: SmtpListener
) -> dict[str, Any]:
    return {
        "imap_host": dovecot.host,
        "imap_port": dovecot.imap_port,
        "imap_username": user,
        "imap_password": password,
        "smtp_host": smtp.host,
        "smtp_port": smtp.port,
        "ssl_required": False,
    }


def server_settings(engine: LocalEngine, token: str) -> dict[str, Any]:
    me = httpx.get(
        engine.url + "/account?view=expanded", headers={"Authorization": f"Bearer {token}"}
    )
    assert me.status_code == 200, me.text
    found: dict[str, Any] = me.json()["server_settings"]
    return found


def send(engine: LocalEngine, token: str, subject: str) -> httpx.Response:
    body = {"to": [{"email": "friend@example.org"}], "subject": subject, "body": "Hello"}
    return httpx.post(
        engine.url + "/send", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=60
    )


@pytest.fixture
def victim(engine: LocalEngine, dovecot: Dovecot, mailbox: tuple[str, str]) -> Iterator[Victim]:
    user, password = mailbox
    with SmtpListener() as smtp:
        app = engine.create_app("Victim's mail app")
        settings = dovecot_settings(dovecot, user, password, smtp)
        code = authorize(engine, app["client_id"], user, settings)
        assert code.status_code == 200, code.text
        token = exchange(engine, app, code.json()["code"])["access_token"]
        yield Victim(user, password, app, token, smtp, settings)


@pytest.fixture
def attacker_smtp() -> Iterator[SmtpListener]:
    with SmtpListener() as smtp:
        yield smtp


@pytest.fixture
def any_login() -> Iterator[FakeImap]:
    with FakeImap(accept=True) as fake:
        yield fake


def assert_untouched(
    engine: LocalEngine, victim: Victim, before: dict[str, Any], attacker_smtp: SmtpListener
) -> None:
    """The victim's settings are as they were, and its mail still goes to its own server."""
    assert server_settings(engine, victim.token) == before
    sent = len(victim.smtp.messages)
    response = send(engine, victim.token, "Still mine")
    assert response.status_code == 200, response.text
    assert len(victim.smtp.messages) == sent + 1
    assert victim.smtp.messages[-1].message["Subject"] == "Still mine"
    assert attacker_smtp.messages == []


def test_an_attackers_servers_cannot_take_an_account_over(engine, victim, any_login, attacker_smtp):
    attacker = engine.create_app("Attacker")
    before = server_settings(engine, victim.token)
    assert before["imap_port"] == victim.settings["imap_port"]
    moved = any_login.settings(victim.email, "anything")
    moved |= {"smtp_host": attacker_smtp.host, "smtp_port": attacker_smtp.port}
    attempts = {
        "no secret": {},
        "the attacker app's own secret": {"client_secret": attacker["client_secret"]},
    }
    for what, extra in attempts.items():
        refused = authorize(engine, attacker["client_id"], victim.email, moved, **extra)
        assert refused.status_code == 403, (what, refused.text)
        assert "code" not in refused.json()
        assert refused.json()["type"] == "invalid_request_error"
        assert "client_secret" in refused.json()["message"]
    # Keeping the victim's IMAP server but sending through the attacker's is a move too.
    smtp_only = {
        **victim.settings,
        "smtp_host": attacker_smtp.host,
        "smtp_port": attacker_smtp.port,
    }
    refused = authorize(engine, attacker["client_id"], victim.email, smtp_only)
    assert refused.status_code == 403, refused.text
    # A move is refused before any server is contacted.
    assert any_login.connections == 0

    listed = httpx.get(
        f"{engine.url}/a/{attacker['client_id']}/accounts", auth=(attacker["client_secret"], "")
    )
    assert listed.status_code == 200, listed.text
    assert listed.json() == []
    assert_untouched(engine, victim, before, attacker_smtp)


def test_a_linked_apps_secret_without_the_mailbox_password_moves_nothing(
    engine, victim, any_login, attacker_smtp
):
    """Someone who has the victim app's secret but not the mailbox cannot move it: the new
    credentials must also log in to the account's current servers."""
    before = server_settings(engine, victim.token)
    moved = any_login.settings(victim.email, "not the password")
    moved |= {"smtp_host": attacker_smtp.host, "smtp_port": attacker_smtp.port}
    refused = authorize(
        engine,
        victim.app["client_id"],
        victim.email,
        moved,
        client_secret=victim.app["client_secret"],
    )
    assert refused.status_code == 403, refused.text
    assert refused.json()["message"] == "Could not log in to the IMAP server."
    assert "code" not in refused.json()
    # The current servers are checked first: the new one was never contacted.
    assert any_login.connections == 0
    assert_untouched(engine, victim, before, attacker_smtp)


def test_a_new_password_on_the_same_servers_reauthenticates(engine, victim, dovecot, attacker_smtp):
    before = server_settings(engine, victim.token)
    dovecot.set_password(victim.email, "a new password")
    stale = authorize(engine, victim.app["client_id"], victim.email, victim.settings)
    assert stale.status_code == 403, stale.text
    assert stale.json()["message"] == "Could not log in to the IMAP server."

    renewed = {**victim.settings, "imap_password": "a new password"}
    code = authorize(engine, victim.app["client_id"], victim.email, renewed)
    assert code.status_code == 200, code.text
    account = exchange(engine, victim.app, code.json()["code"])
    assert account["email_address"] == victim.email
    assert server_settings(engine, account["access_token"]) == before
    # Any app may re-authenticate on the same servers: it proves the mailbox password.
    other = engine.create_app("Another client")
    code = authorize(engine, other["client_id"], victim.email, renewed)
    assert code.status_code == 200, code.text
    assert exchange(engine, other, code.json()["code"])["id"] == account["id"]
    assert_untouched(engine, victim, before, attacker_smtp)


def test_a_linked_app_moves_the_account_with_credentials_the_old_servers_accept(
    engine, victim, any_login
):
    with SmtpListener() as new_smtp:
        moved = any_login.settings(victim.email, victim.password)
        moved |= {"smtp_host": new_smtp.host, "smtp_port": new_smtp.port}
        code = authorize(
            engine,
            victim.app["client_id"],
            victim.email,
            moved,
            client_secret=victim.app["client_secret"],
        )
        assert code.status_code == 200, code.text
        assert len(any_login.logins) == 1
        now = server_settings(engine, victim.token)
        assert now["imap_port"] == any_login.port
        assert now["smtp_port"] == new_smtp.port
        assert send(engine, victim.token, "From the new server").status_code == 200
        assert [m.message["Subject"] for m in new_smtp.messages] == ["From the new server"]
        assert victim.smtp.messages == []


def test_a_wrong_secret_of_the_requesting_app_is_refused(engine, victim, any_login):
    moved = any_login.settings(victim.email, victim.password)
    refused = authorize(
        engine, victim.app["client_id"], victim.email, moved, client_secret="guessed"
    )
    assert refused.status_code == 403, refused.text
    assert refused.json()["message"] == "Invalid client_secret."
    assert any_login.connections == 0


def test_a_local_account_cannot_be_given_servers_through_the_api(engine, any_login):
    email = f"local{time.monotonic_ns()}@example.com"
    engine.add_account(email)
    app = engine.create_app("Some app")
    refused = authorize(engine, app["client_id"], email, any_login.settings(email, "x"))
    assert refused.status_code == 403, refused.text
    assert any_login.connections == 0


def test_the_operator_may_move_an_account(engine, victim, any_login, tmp_path):
    secret = tmp_path / "password"
    secret.write_text("whatever\n")
    out = engine.cli(
        "accounts", "add", "--email", victim.email, "--json", "--plain",
        "--imap-host", any_login.host, "--imap-port", str(any_login.port),
        "--password-file", str(secret),
    )  # fmt: skip
    assert victim.email in out
    assert server_settings(engine, victim.token)["imap_port"] == any_login.port
