"""A real OAuth 2.0 authorization server for the OAuth tests, built on Authlib (Flask), in a
thread on a free loopback port: it plays "Google" or "Microsoft" for the engine through the
endpoint overrides (`NYLAS_ENGINE_GOOGLE_TOKEN_URL`, ...).

It implements what the engine and the mail servers use of a provider: the authorization
code grant with PKCE (RFC 7636) behind a login form (`/authorize`), the refresh token grant
(`/token`, rotating refresh tokens when `rotate` is set), revocation (`/revoke`, RFC 7009:
revoking a refresh token also ends the access tokens of its grant), introspection
(`/introspect`, RFC 7662, which Dovecot's `oauth2` passdb and the SMTP listener ask), and
OpenID Connect's userinfo (`/userinfo`: the signed-in email).

Users sign in with an email and a password (`add_user`). `lifetime` is the access tokens'
lifetime in seconds; `refreshes` counts refresh grants served (`refreshes_of` by user).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import (
    AuthorizationCodeMixin,
    ClientMixin,
    TokenMixin,
    grants,
)
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from flask import Flask, jsonify, request
from werkzeug.serving import make_server

from nylas.testing import free_port

SCOPES = "openid email https://mail.google.com/"


@dataclass
class Client(ClientMixin):  # type: ignore[misc]
    client_id: str
    client_secret: str
    redirect_uris: list[str] = field(default_factory=list)

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return self.redirect_uris[0] if self.redirect_uris else None

    def get_allowed_scope(self, scope: str) -> str:
        return scope or ""

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        # Loopback redirects may use any port (RFC 8252 §7.3), as Google allows.
        if redirect_uri.startswith("http://127.0.0.1:") and "loopback" in self.redirect_uris:
            return True
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return secrets.compare_digest(client_secret, self.client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in ("authorization_code", "refresh_token")


@dataclass
class Code(AuthorizationCodeMixin):  # type: ignore[misc]
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    user: str
    code_challenge: str | None
    code_challenge_method: str | None
    nonce: str | None = None

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return int(time.time())


@dataclass
class Token(TokenMixin):  # type: ignore[misc]
    client_id: str
    user: str
    scope: str
    access_token: str
    refresh_token: str | None
    expires_in: int
    issued_at: float = field(default_factory=time.time)
    revoked: bool = False
    grant: str = ""  # the authorization this token came from (its first refresh token)

    def check_client(self, client: Client) -> bool:
        return self.client_id == client.client_id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return self.expires_in

    def is_expired(self) -> bool:
        return time.time() >= self.issued_at + self.expires_in

    def is_revoked(self) -> bool:
        return self.revoked

    def get_user(self) -> str:
        return self.user

    def get_client(self) -> Any:
        return None


class OAuthServer:
    def __init__(self, *, lifetime: int = 3600, rotate: bool = False) -> None:
        self.host = "127.0.0.1"
        self.port = free_port()
        self.lifetime = lifetime
        self.rotate = rotate
        self.refreshes = 0
        self.refreshes_of: Counter[str] = Counter()  # by user
        self.users: dict[str, str] = {}
        self.clients: dict[str, Client] = {}
        self.codes: dict[str, Code] = {}
        self.tokens: list[Token] = []
        self.lock = threading.Lock()
        self.app = self._make_app()
        self._server = make_server(self.host, self.port, self.app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # ------------------------------------------------------------------ set-up

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def add_client(self, redirect_uris: list[str] | None = None) -> Client:
        client = Client(
            f"client-{secrets.token_hex(4)}", secrets.token_urlsafe(16), list(redirect_uris or [])
        )
        self.clients[client.client_id] = client
        return client

    def add_user(self, email: str, password: str) -> None:
        self.users[email] = password

    def issue(self, client: Client, user: str, scope: str = SCOPES) -> Token:
        """A grant as if the user had consented: its first tokens (for native-auth tests)."""
        token = Token(
            client.client_id,
            user,
            scope,
            secrets.token_urlsafe(24),
            secrets.token_urlsafe(24),
            self.lifetime,
        )
        token.grant = token.refresh_token or ""
        with self.lock:
            self.tokens.append(token)
        return token

    def env(self, provider: str = "google", client: Client | None = None) -> dict[str, str]:
        """The engine's environment making this server the `provider`."""
        prefix = f"NYLAS_ENGINE_{provider.upper()}_"
        env = {
            prefix + "AUTHORIZATION_URL": f"{self.url}/authorize",
            prefix + "TOKEN_URL": f"{self.url}/token",
            prefix + "USERINFO_URL": f"{self.url}/userinfo",
            prefix + "SCOPES": SCOPES,
        }
        if client is not None:
            env[prefix + "CLIENT_ID"] = client.client_id
            env[prefix + "CLIENT_SECRET"] = client.client_secret
        return env

    def revoke_user(self, user: str) -> None:
        """What a user does in their provider account: end every grant of the engine."""
        with self.lock:
            for token in self.tokens:
                if token.user == user:
                    token.revoked = True

    def expire_access_tokens(self, user: str) -> None:
        """End `user`'s access tokens before their time (their refresh tokens stay good), as
        a provider may: a password change, a security event."""
        with self.lock:
            for token in self.tokens:
                if token.user == user:
                    token.expires_in = 0

    def find(self, value: str, kind: str | None = None) -> Token | None:
        with self.lock:
            for token in self.tokens:
                if kind != "refresh_token" and token.access_token == value:
                    return token
                if kind != "access_token" and token.refresh_token == value:
                    return token
        return None

    def active(self, access_token: str) -> Token | None:
        token = self.find(access_token, "access_token")
        if token is None or token.revoked or token.is_expired():
            return None
        return token

    # ------------------------------------------------------------------ the server

    def _make_app(self) -> Flask:
        app = Flask("oauth-test-server")
        server = AuthorizationServer(app, query_client=self.clients.get, save_token=self._save)
        server.register_token_generator(
            "default",
            BearerTokenGenerator(
                access_token_generator=lambda **_: secrets.token_urlsafe(24),
                refresh_token_generator=lambda **_: secrets.token_urlsafe(24),
                expires_generator=lambda client, grant_type: self.lifetime,
            ),
        )
        outer = self

        class CodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
            TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

            def save_authorization_code(self, code: str, req: Any) -> None:
                outer.codes[code] = Code(
                    code,
                    req.client.client_id,
                    req.payload.redirect_uri,
                    req.payload.scope,
                    req.user,
                    req.payload.data.get("code_challenge"),
                    req.payload.data.get("code_challenge_method"),
                )

            def query_authorization_code(self, code: str, client: Client) -> Code | None:
                found = outer.codes.get(code)
                return found if found and found.client_id == client.client_id else None

            def delete_authorization_code(self, code: Code) -> None:
                outer.codes.pop(code.code, None)

            def authenticate_user(self, code: Code) -> str:
                return code.user

        class RefreshGrant(grants.RefreshTokenGrant):  # type: ignore[misc]
            TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

            @property
            def INCLUDE_NEW_REFRESH_TOKEN(self) -> bool:  # noqa: N802
                return outer.rotate

            def authenticate_refresh_token(self, refresh_token: str) -> Token | None:
                token = outer.find(refresh_token, "refresh_token")
                return token if token is not None and not token.revoked else None

            def authenticate_user(self, token: Token) -> str:
                outer.refreshes += 1
                outer.refreshes_of[token.user] += 1
                return token.user

            def revoke_old_credential(self, token: Token) -> None:
                if outer.rotate:
                    token.refresh_token = None  # the old refresh token is spent

        class Revocation(RevocationEndpoint):  # type: ignore[misc]
            CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

            def query_token(self, value: str, hint: str | None) -> Token | None:
                return outer.find(value, hint)

            def revoke_token(self, token: Token, req: Any) -> None:
                hint = req.form.get("token_type_hint")
                value = req.form.get("token")
                whole_grant = hint == "refresh_token" or value == token.refresh_token
                with outer.lock:
                    for other in outer.tokens:
                        if other is token or (whole_grant and other.grant == token.grant):
                            other.revoked = True

        class Introspection(IntrospectionEndpoint):  # type: ignore[misc]
            CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]

            def authenticate_endpoint_client(self, req: Any) -> Any:
                # The mail servers (resource servers) ask without a client of their own.
                return Client("resource-server", "")

            def query_token(self, value: str, hint: str | None) -> Token | None:
                return outer.find(value, hint)

            def check_permission(self, token: Token, client: Any, req: Any) -> bool:
                return True

            def introspect_token(self, token: Token) -> dict[str, Any]:
                return {
                    "active": True,
                    "client_id": token.client_id,
                    "token_type": "Bearer",
                    "username": token.user,
                    "email": token.user,
                    "scope": token.scope,
                    "sub": token.user,
                    "exp": int(token.issued_at + token.expires_in),
                    "iat": int(token.issued_at),
                }

            def create_introspection_payload(self, token: Token | None) -> dict[str, Any]:
                if token is None or token.revoked or token.is_expired():
                    return {"active": False}
                return self.introspect_token(token)

        server.register_grant(CodeGrant, [CodeChallenge(required=True)])
        server.register_grant(RefreshGrant)
        server.register_endpoint(Revocation)
        server.register_endpoint(Introspection)

        @app.route("/authorize", methods=["GET", "POST"])
        def authorize() -> Any:
            if request.method == "GET":
                try:
                    server.get_consent_grant(end_user=None)
                except Exception as exc:  # shown as the provider would: a page
                    return f"<p>bad request: {exc}</p>", 400
                hidden = "".join(
                    f'<input type="hidden" name="{k}" value="{v}">' for k, v in request.args.items()
                )
                return (
                    f'<form method="post" action="/authorize">{hidden}'
                    '<input name="email"><input name="password" type="password">'
                    '<button type="submit">Sign in</button></form>'
                )
            email = request.form.get("email", "")
            if email not in self.users or self.users[email] != request.form.get("password"):
                return "<p>wrong email or password</p>", 401
            return server.create_authorization_response(grant_user=email)

        @app.route("/token", methods=["POST"])
        def token() -> Any:
            return server.create_token_response()

        @app.route("/revoke", methods=["POST"])
        def revoke() -> Any:
            return server.create_endpoint_response("revocation")

        @app.route("/introspect", methods=["POST"])
        def introspect() -> Any:
            return server.create_endpoint_response("introspection")

        @app.route("/userinfo")
        def userinfo() -> Any:
            header = request.headers.get("Authorization", "")
            found = self.active(header[7:]) if header.lower().startswith("bearer ") else None
            if found is None:
                return jsonify({"error": "invalid_token"}), 401
            return jsonify({"sub": found.user, "email": found.user, "email_verified": True})

        return app

    def _save(self, token: dict[str, Any], req: Any) -> None:
        refresh = token.get("refresh_token")
        previous = getattr(req, "refresh_token", None)
        grant = previous.grant if isinstance(previous, Token) else (refresh or "")
        saved = Token(
            req.client.client_id,
            req.user,
            token.get("scope", ""),
            token["access_token"],
            refresh,
            int(token.get("expires_in", self.lifetime)),
            grant=grant,
        )
        if refresh is None and isinstance(previous, Token) and not self.rotate:
            saved.refresh_token = None  # the old refresh token stays the grant's
        with self.lock:
            self.tokens.append(saved)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> OAuthServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(5)
