"""Signing a user in with their provider (hosted auth and the CLI), and the account an OAuth
grant connects.

The browser side is the authorization code grant with PKCE (RFC 7636): `start` makes the
authorization URL with a fresh `state` and code verifier (kept by the caller, sealed), and
`finish` exchanges the code at the token endpoint and asks userinfo for the signed-in email
address. The refresh token it yields is what the account keeps (sealed, store/credentials.py).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

from nylas_engine.oauth.providers import Provider, account_servers
from nylas_engine.oauth.tokens import TIMEOUT, TokenUnavailable, _token_request
from nylas_engine.store.credentials import MailCredentials, OAuthGrant
from nylas_engine.sync.imap import ServerSettings


class SignInFailed(Exception):
    """The provider did not give a usable grant (refused code, no refresh token, no email)."""


@dataclass(frozen=True)
class Authorization:
    """A started sign-in: where to send the browser, and what must come back with it."""

    url: str
    state: str
    verifier: str

    def __repr__(self) -> str:
        return "Authorization(***)"


def challenge(verifier: str) -> str:
    """RFC 7636 §4.2, S256."""
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def start(provider: Provider, redirect_uri: str, login_hint: str = "") -> Authorization:
    state = secrets.token_urlsafe(24)
    verifier = secrets.token_urlsafe(48)
    params = {
        "response_type": "code",
        "client_id": provider.client_id,
        "redirect_uri": redirect_uri,
        "scope": " ".join(provider.scopes),
        "state": state,
        "code_challenge": challenge(verifier),
        "code_challenge_method": "S256",
        # Both providers give a refresh token only when asked for offline access.
        "access_type": "offline",
        "prompt": "consent",
    }
    if login_hint:
        params["login_hint"] = login_hint
    separator = "&" if "?" in provider.authorization_url else "?"
    return Authorization(
        provider.authorization_url + separator + urlencode(params), state, verifier
    )


@dataclass(frozen=True)
class SignedIn:
    email: str
    grant: OAuthGrant


def finish(provider: Provider, code: str, verifier: str, redirect_uri: str) -> SignedIn:
    """Exchange the code (with the PKCE verifier) for tokens, then ask who signed in."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "client_id": provider.client_id,
        "client_secret": provider.client_secret,
        "code_verifier": verifier,
    }
    try:
        token, refresh_token, _ = _token_request(provider.token_url, form, None, what="sign-in")
    except TokenUnavailable as exc:
        raise SignInFailed(str(exc)) from None
    except Exception as exc:  # GrantRejected: a bad or used code
        raise SignInFailed(str(exc)) from None
    if not refresh_token:
        raise SignInFailed("the provider gave no refresh token (offline access refused)")
    email = userinfo_email(provider, token.value)
    grant = OAuthGrant(
        provider.name, provider.token_url, provider.client_id, provider.client_secret, refresh_token
    )
    return SignedIn(email, grant)


def userinfo_email(provider: Provider, access_token: str) -> str:
    try:
        reply = httpx.get(
            provider.userinfo_url,
            headers={"Authorization": f"Bearer {access_token}"},
            timeout=TIMEOUT,
        )
        info: Any = reply.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise SignInFailed(f"the provider's userinfo did not answer: {exc}") from None
    email = info.get("email") if isinstance(info, dict) else None
    if reply.status_code != 200 or not isinstance(email, str) or "@" not in email:
        raise SignInFailed("the provider did not tell the signed-in email address")
    if info.get("email_verified") is False:
        raise SignInFailed("the provider has not verified that email address")
    return email.strip().lower()


def oauth_account(
    provider: Provider, email: str, grant: OAuthGrant
) -> tuple[ServerSettings, MailCredentials, bool]:
    """The servers, credentials and folder model (labels?) of the account `grant` opens."""
    servers: dict[str, Any] = account_servers(provider, email)
    labels = bool(servers.pop("labels"))
    settings = ServerSettings(email=email, imap_username=email, smtp_username=email, **servers)
    return settings, MailCredentials("", None, grant), labels
