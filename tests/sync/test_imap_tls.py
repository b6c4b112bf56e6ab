"""IMAP over TLS, as every hosted server speaks it: implicit TLS (port 993's way) and STARTTLS.

The Dovecot here has a certificate for the loopback names from a CA of its own; the engine
that syncs it trusts that CA through `SSL_CERT_FILE` (which Python's default context reads),
the way an operator trusts a private CA. Its connections go through the engine's own classes
(sync/dial.py: a pinned address, the greeting's capabilities taken instead of asking, and
asked again after STARTTLS), and IDLE then waits on a TLS socket, where data can sit
decrypted in the TLS layer while the socket itself has nothing to read.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import samples
from dovecot import Dovecot
from sync_engines import SyncEngine
from test_live_sync import eventually

from nylas.testing import free_port


@pytest.fixture(scope="module")
def tls_dovecot() -> Iterator[Dovecot]:
    server = Dovecot(tls=True).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def trusting_engine(tls_dovecot: Dovecot, tmp_path_factory: pytest.TempPathFactory):
    engine = SyncEngine(
        tmp_path_factory.mktemp("tls-syncing"),
        env={
            "SSL_CERT_FILE": str(tls_dovecot.ca_file),
            # No full pass and no look at the folders' STATUS after the first: new mail
            # can only come through IDLE.
            "NYLAS_ENGINE_SYNC_POLL": "600",
            "NYLAS_ENGINE_SYNC_CHECK": "600",
            "NYLAS_ENGINE_SYNC_SCAN": "0.5",
            "NYLAS_ENGINE_SYNC_RETRY": "0.5",
        },
    )
    engine.start()
    yield engine
    engine.close()


def _add(
    engine: SyncEngine, server: Dovecot, user: str, password: str, security: str, port: int
) -> Any:
    # No SMTP server here: a port where nothing listens (adding an account does not try it).
    smtp = ("--smtp-port", str(free_port()))
    return engine.add_imap_account(server, user, password, *smtp, security=security, port=port)


def _subjects(api: Any) -> list[str]:
    return sorted(m["subject"] for m in api.get("/messages").json())


@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_a_mailbox_behind_tls_syncs_and_hears_new_mail(tls_dovecot, trusting_engine, security):
    server = tls_dovecot
    user, password = server.new_user()
    server.append(user, [samples.plain("Before", user)])
    port = server.imaps_port if security == "tls" else server.imap_port
    account = _add(trusting_engine, server, user, password, security, port)

    with trusting_engine.client(account["id"]) as api:
        eventually(lambda: _subjects(api) == ["Before"], f"the first sync over {security}")
        assert api.get("/account").json()["sync_state"] == "running"
        # Heard in IDLE, on the TLS connection the worker waits on.
        server.deliver(user, samples.plain("While idle", user))
        eventually(lambda: _subjects(api) == ["Before", "While idle"], "new mail over TLS")
        # And written back over it: a flag set through the API reaches the server.
        message = next(m for m in api.get("/messages").json() if m["subject"] == "Before")
        assert api.put(f"/messages/{message['id']}", json={"starred": True}).status_code == 200
        with server.client(user, password) as other:
            other.select_folder("INBOX")

            def starred_on_server() -> bool:
                other.noop()
                return any(b"\\Flagged" in f for f in other.get_flags(other.search()).values())

            eventually(starred_on_server, "the star on the server")


def test_a_certificate_nobody_vouches_for_is_refused_by_name(tls_dovecot, sync_engine):
    """The tests' shared engine does not trust the server's CA: adding the account fails
    at once, saying why, and no account is made."""
    server = tls_dovecot
    user, password = server.new_user()
    before = sync_engine.cli("accounts", "list", "--json")
    with pytest.raises(
        RuntimeError, match=r"127\.0\.0\.1:\d+: TLS error \(CERTIFICATE_VERIFY_FAILED\)"
    ):
        _add(sync_engine, server, user, password, "tls", server.imaps_port)
    assert sync_engine.cli("accounts", "list", "--json") == before
