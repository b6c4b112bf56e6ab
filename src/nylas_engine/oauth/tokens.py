"""Access tokens for OAuth 2.0 accounts: a refresh token exchanged at the provider's token
endpoint (RFC 6749 §6), the access token kept until shortly before it expires.

One `TokenCache` per process (`TOKENS`), keyed by the grant (provider, client, refresh
token), shared by sync workers and senders so that an account does not refresh once per
connection. `access_token(grant)` answers from the cache or refreshes; `access_token(grant,
fresh=True)` refreshes even so (after the server refused the cached token: it may have
been revoked early). A provider that rotates refresh tokens returns a new one with the
access token: the cache remembers it for the old grant (`current`), and whoever loaded the
grant from an account stores the newer one sealed (`sync.accounts.store_rotated`).

`GrantRejected` means the provider refused the refresh token itself (`invalid_grant`,
`invalid_client`, `unauthorized_client`: revoked, expired, or the client's secret changed):
only new consent helps, so the account becomes `invalid`. Anything else (the endpoint down,
a 5xx, a reply that is not JSON) is `TokenUnavailable`, a temporary failure.

Tokens are never logged; errors carry the provider's error code, not its reply.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nylas_engine.store.credentials import OAuthGrant

if TYPE_CHECKING:  # imported for a refresh only: every sync process loads this module
    import httpx

log = logging.getLogger("nylas_engine.oauth")

# Refresh this long before the provider's expiry: a token must outlive the login it is for.
EARLY = 60.0
TIMEOUT = 20.0
REJECTED = ("invalid_grant", "invalid_client", "unauthorized_client", "unsupported_grant_type")


class TokenError(Exception):
    """No access token could be had for a grant."""


class GrantRejected(TokenError):
    """The provider refused the refresh token: the account needs new consent."""


class TokenUnavailable(TokenError):
    """The token endpoint could not be used just now; try again later."""


@dataclass(frozen=True)
class AccessToken:
    value: str
    expires_at: float  # time.monotonic() seconds

    def __repr__(self) -> str:
        return "AccessToken(***)"


def _key(grant: OAuthGrant) -> str:
    text = "\0".join((grant.token_url, grant.client_id, grant.refresh_token))
    return hashlib.sha256(text.encode()).hexdigest()


def refresh(grant: OAuthGrant, client: httpx.Client | None = None) -> tuple[AccessToken, str]:
    """One refresh at the token endpoint: the access token and the refresh token to use from
    now on (the same one unless the provider rotated it)."""
    form = {
        "grant_type": "refresh_token",
        "refresh_token": grant.refresh_token,
        "client_id": grant.client_id,
        "client_secret": grant.client_secret,
    }
    if grant.scope:
        form["scope"] = grant.scope
    return _token_request(grant.token_url, form, client, what="refresh")[:2]


def _token_request(
    url: str, form: dict[str, str], client: httpx.Client | None, *, what: str
) -> tuple[AccessToken, str, dict[str, Any]]:
    """POST `form` to the token endpoint `url`: (access token, refresh token or "", reply)."""
    import httpx

    started = time.monotonic()
    try:
        if client is None:
            with httpx.Client(timeout=TIMEOUT) as own:
                reply = own.post(url, data=form, headers={"Accept": "application/json"})
        else:
            reply = client.post(url, data=form, headers={"Accept": "application/json"})
    except httpx.HTTPError as exc:
        raise TokenUnavailable(f"the token endpoint did not answer the {what}: {exc}") from None
    try:
        body = reply.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise TokenUnavailable(f"the token endpoint answered the {what} with {reply.status_code}")
    error = body.get("error")
    if reply.status_code >= 400 or error:
        code = str(error or reply.status_code)
        if code in REJECTED:
            raise GrantRejected(f"the provider refused the {what} ({code})")
        raise TokenUnavailable(f"the token endpoint refused the {what} ({code})")
    value = body.get("access_token")
    if not isinstance(value, str) or not value:
        raise TokenUnavailable(f"the token endpoint's {what} reply has no access_token")
    try:
        lifetime = float(body.get("expires_in") or 3600)
    except (TypeError, ValueError):
        lifetime = 3600.0
    renewed = body.get("refresh_token")
    token = AccessToken(value, started + lifetime)
    return token, renewed if isinstance(renewed, str) else "", body


class TokenCache:
    """Access tokens by grant (see the module docstring). Thread-safe; one refresh per grant
    at a time."""

    def __init__(self, early: float = EARLY) -> None:
        self.early = early
        self._tokens: dict[str, AccessToken] = {}
        self._rotated: dict[str, str] = {}  # key of a grant -> its newer refresh token
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def current(self, grant: OAuthGrant) -> OAuthGrant:
        """`grant` with the newest refresh token this process has seen for it."""
        seen: set[str] = set()
        key = _key(grant)
        while key in self._rotated and key not in seen:
            seen.add(key)
            grant = grant.with_refresh_token(self._rotated[key])
            key = _key(grant)
        return grant

    def access_token(self, grant: OAuthGrant, *, fresh: bool = False) -> str:
        grant = self.current(grant)
        key = _key(grant)
        with self._lock:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            cached = self._tokens.get(key)
            if (
                not fresh
                and cached is not None
                and cached.expires_at - self.early > time.monotonic()
            ):
                return cached.value
            token, renewed = refresh(grant)
            self._tokens[key] = token
            if renewed and renewed != grant.refresh_token:
                newer = grant.with_refresh_token(renewed)
                self._rotated[key] = renewed
                self._tokens[_key(newer)] = token
                log.info("a %s refresh token was rotated", grant.provider)
            return token.value

    def forget(self, grant: OAuthGrant) -> None:
        """Drop the cached access token (the server refused it)."""
        self._tokens.pop(_key(self.current(grant)), None)


TOKENS = TokenCache()
