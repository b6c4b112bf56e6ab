"""CalDAV/CardDAV URLs a caller gave through `/connect/authorize` are held to the engine's
address policy on every request the sync makes, redirects included (sync/hosts.py): a DAV
server that redirects to an address the operator doesn't allow gets no connection there.

The DAV server here is a redirector on 127.0.0.1 that sends every request on to
127.0.0.2, where a listener counts the connections it gets.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from dav_helpers import eventually

from nylas.testing import LocalEngine


class Listener:
    """Counts the connections made to 127.0.0.2 (and answers none of them)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.2", 0))
        self.port: int = self.sock.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()


class Redirector(ThreadingHTTPServer):
    def __init__(self, target: str) -> None:
        self.target = target
        self.requests = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _redirect(self) -> None:
                server.requests += 1
                self.send_response(301)
                self.send_header("Location", server.target + self.path)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_PROPFIND = do_REPORT = do_OPTIONS = _redirect

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()


@pytest.fixture
def redirect() -> Iterator[tuple[Redirector, Listener]]:
    listener = Listener()
    redirector = Redirector(f"http://127.0.0.2:{listener.port}")
    yield redirector, listener
    redirector.shutdown()
    listener.sock.close()


def _connect(engine: LocalEngine, dovecot: Any, mailbox: tuple[str, str], dav_url: str) -> None:
    user, password = mailbox
    app = engine.create_app("DAV hosts")
    settings = {
        "imap_host": dovecot.host,
        "imap_port": dovecot.imap_port,
        "imap_username": user,
        "imap_password": password,
        "ssl_required": False,
        "caldav_url": dav_url,
    }
    body = {"client_id": app["client_id"], "email_address": user, "settings": settings}
    reply = httpx.post(engine.url + "/connect/authorize", json=body, timeout=60)
    assert reply.status_code == 200, reply.text


@pytest.mark.parametrize("allowed", ["127.0.0.1", "127.0.0.0/8"])
def test_a_redirect_is_followed_only_to_an_allowed_address(
    tmp_path, dovecot, mailbox, redirect, allowed
):
    redirector, listener = redirect
    env = {"NYLAS_ENGINE_DAV_POLL": "0.5", "NYLAS_ENGINE_ALLOW_MAIL_HOSTS": ""}
    args = ["--allow-mail-hosts", allowed]
    with LocalEngine(tmp_path, auth="token", extra_args=args, env=env) as engine:
        _connect(engine, dovecot, mailbox, f"http://127.0.0.1:{redirector.server_port}/dav/")
        if allowed == "127.0.0.1":  # 127.0.0.2 is not allowed: the sync tries, and stops
            eventually(lambda: redirector.requests >= 3, "the sync's repeated attempts")
            assert listener.connections == 0
        else:  # the same redirect, allowed: the connection is made
            eventually(lambda: listener.connections >= 1, "a connection to 127.0.0.2")
