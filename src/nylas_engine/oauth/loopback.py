"""Signing in from the command line (`accounts add --oauth google`): the loopback redirect of
RFC 8252 §7.3, which Google and Microsoft allow for installed apps.

A one-shot HTTP server listens on 127.0.0.1 at a free port; the authorization URL is printed
(and opened in a browser where there is one); the provider sends the browser back to the
loopback address with the code, whose `state` must be the one sent; the code is exchanged with
the PKCE verifier that never left this process.
"""

from __future__ import annotations

import secrets
import sys
import threading
import webbrowser
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from nylas_engine.oauth.login import SignedIn, SignInFailed, finish, start
from nylas_engine.oauth.providers import Provider

WAIT = 300.0  # seconds the user has to sign in


def sign_in(provider: Provider, login_hint: str = "", *, open_browser: bool = True) -> SignedIn:
    found: dict[str, str] = {}
    done = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
            if "code" not in query and "error" not in query:
                self._answer(404, "Not here.")
                return
            found.update(query)
            done.set()
            self._answer(200, "Signed in: you can close this window and go back to the terminal.")

        def _answer(self, status: int, text: str) -> None:
            data = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    redirect_uri = f"http://127.0.0.1:{server.server_address[1]}/callback"
    auth = start(provider, redirect_uri, login_hint)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        print(f"Sign in with {provider.label} at:\n{auth.url}", file=sys.stderr, flush=True)
        if open_browser:
            webbrowser.open(auth.url)
        if not done.wait(WAIT):
            raise SystemExit("no sign-in within 5 minutes")
    finally:
        server.shutdown()
        server.server_close()
    if "error" in found:
        raise SystemExit(f"the provider refused the sign-in: {found['error']}")
    if not secrets.compare_digest(found.get("state", ""), auth.state):
        raise SystemExit("the sign-in came back with another state; try again")
    try:
        return finish(provider, found["code"], auth.verifier, redirect_uri)
    except SignInFailed as exc:
        raise SystemExit(f"sign-in failed: {exc}") from None
