"""Radicale checks passwords only: this proxy plays a CalDAV/CardDAV server that takes OAuth
bearer tokens, as Google's does. It asks the OAuth server whether each token is active (RFC
7662 introspection) and passes the request on to Radicale as the token's user."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

PASSED = ("Depth", "Content-Type", "If-Match", "If-None-Match", "Prefer")
RETURNED = ("Content-Type", "ETag", "Location", "DAV")


class BearerProxy:
    def __init__(
        self, introspection_url: str, radicale_url: str, users: dict[str, tuple[str, str]]
    ):
        self.introspection_url = introspection_url
        self.radicale_url = radicale_url
        self.users = users  # OAuth user -> (Radicale user, password)
        self.seen: list[str] = []  # the Authorization scheme of each request
        self.tokens: set[str] = set()  # the bearer tokens taken
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                proxy.handle(self)

            do_GET = do_PUT = do_DELETE = do_PROPFIND = do_REPORT = do_OPTIONS = _any
            do_PROPPATCH = do_MKCALENDAR = do_MKCOL = do_HEAD = _any

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> BearerProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        self.seen.append(scheme)
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        login = None
        if scheme == "Bearer":
            answer = httpx.post(self.introspection_url, data={"token": token}, timeout=10).json()
            if answer.get("active"):
                login = self.users.get(answer.get("username") or answer.get("sub") or "")
        if login is None:
            request.send_response(401)
            request.send_header("WWW-Authenticate", 'Bearer realm="dav"')
            request.send_header("Content-Length", "0")
            request.end_headers()
            return
        self.tokens.add(token)
        headers = {k: v for k in PASSED if (v := request.headers.get(k)) is not None}
        reply = httpx.request(
            request.command, self.radicale_url + request.path, content=body,
            headers=headers, auth=login, timeout=30,
        )  # fmt: skip
        request.send_response(reply.status_code)
        for name in RETURNED:
            if name in reply.headers:
                request.send_header(name, reply.headers[name])
        request.send_header("Content-Length", str(len(reply.content)))
        request.end_headers()
        request.wfile.write(reply.content)
