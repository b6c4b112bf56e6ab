"""Hosted auth with the user's mail provider: "Sign in with Google / Microsoft" on the
`/oauth/authorize` page (docs/protocol.md §16.1).

`GET /oauth/provider/start?provider=google&<the app's authorize parameters>` checks the app's
request as `/oauth/authorize` does, then sends the browser to the provider with a fresh
`state` and a PKCE challenge. What the callback needs back (the state, the PKCE verifier,
the app's request) travels in a cookie sealed with the engine's key (HttpOnly, SameSite=Lax
so it comes back with the provider's top-level redirect, limited to `/oauth/provider`, ten
minutes), so a callback is accepted only in the browser that started it and only with the
state sent. `GET /oauth/provider/callback` exchanges the code (with the verifier), asks
the provider who signed in, logs in to the provider's IMAP and SMTP with the new token,
creates or re-authenticates that account (the rules of sync/accounts.py), and finishes the
app's authorization as the password form does: a code (or token) at its redirect URI.

No database session is open while the engine talks to the provider or the mail servers.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from nylas_engine.api.deps import get_ctx
from nylas_engine.api.routes.oauth import (
    PageError,
    RedirectableError,
    error_page,
    error_redirect,
    parse_authorize,
    redirect_to,
)
from nylas_engine.api.routing import SessionRoute
from nylas_engine.context import EngineContext
from nylas_engine.oauth import login, providers
from nylas_engine.store import auth
from nylas_engine.store.credentials import CredentialsError
from nylas_engine.sync.accounts import MoveRefused, plan_connection, store_account, verify_servers
from nylas_engine.sync.hosts import HostRefused, policy_for
from nylas_engine.sync.imap import SyncError

router = APIRouter(route_class=SessionRoute)
log = logging.getLogger("nylas_engine.oauth")

COOKIE = "nylas_engine_provider"
COOKIE_PATH = "/oauth/provider"
LIFETIME = 600  # seconds a started sign-in stays valid
VERIFY_SECONDS = 30.0


def callback_uri(request: Request) -> str:
    return str(request.url_for("provider_callback"))


def _provider(name: str) -> providers.Provider:
    try:
        found = providers.provider(name)
    except KeyError:
        raise PageError("Unknown sign-in provider.") from None
    if not found.configured:
        raise PageError(f"Sign-in with {found.label} is not set up on this server.")
    return found


@router.get("/oauth/provider/start", include_in_schema=False)
def provider_start(request: Request, ctx: EngineContext = Depends(get_ctx)) -> Response:
    params = dict(request.query_params)
    try:
        provider = _provider(params.pop("provider", ""))
        with ctx.db.session() as session:
            authz = parse_authorize(session, params)
            fields = {**authz.hidden_fields(), "login_hint": authz.login_hint}
    except PageError as exc:
        return error_page(exc.message)
    except RedirectableError as exc:
        return error_page(exc.reason)
    started = login.start(provider, callback_uri(request), authz.login_hint)
    sealed = ctx.vault.seal_text(
        json.dumps(
            {
                "provider": provider.name,
                "state": started.state,
                "verifier": started.verifier,
                "authorize": fields,
                "at": time.time(),
            }
        )
    )
    response = RedirectResponse(started.url, status_code=303, headers={"Cache-Control": "no-store"})
    response.set_cookie(
        COOKIE,
        sealed.decode(),
        max_age=LIFETIME,
        path=COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    return response


def _started(request: Request, ctx: EngineContext) -> dict[str, Any]:
    """The sign-in this browser started (PageError if none, expired, or another state)."""
    cookie = request.cookies.get(COOKIE, "")
    try:
        started = json.loads(ctx.vault.open_text(cookie.encode(), "sign-in")) if cookie else None
    except (CredentialsError, ValueError):
        started = None
    if not isinstance(started, dict) or time.time() - float(started.get("at", 0)) > LIFETIME:
        raise PageError("This sign-in expired or was started in another browser. Start again.")
    state = request.query_params.get("state", "")
    if not hmac.compare_digest(state.encode(), str(started["state"]).encode()):
        raise PageError("The sign-in came back with another state. Start again.")
    return started


@router.get("/oauth/provider/callback", name="provider_callback", include_in_schema=False)
def provider_callback(request: Request, ctx: EngineContext = Depends(get_ctx)) -> Response:
    try:
        started = _started(request, ctx)
        provider = _provider(started["provider"])
        with ctx.db.session() as session:
            authz = parse_authorize(session, started["authorize"])
    except PageError as exc:
        return _forget(error_page(exc.message))
    except RedirectableError as exc:
        return _forget(error_page(exc.reason))
    if error := request.query_params.get("error"):
        reason = f"{provider.label} sign-in was not completed ({error[:64]})."
        return _forget(error_redirect(authz, "access_denied", reason))
    try:
        signed_in = login.finish(
            provider,
            request.query_params.get("code", ""),
            started["verifier"],
            callback_uri(request),
        )
        settings, credentials, labels = login.oauth_account(
            provider, signed_in.email, signed_in.grant
        )
        with ctx.db.session() as session:
            servers = plan_connection(session, settings).servers_to_verify(move_allowed=False)
        policy = policy_for(ctx.settings.auth_mode, ctx.settings.allow_mail_hosts)
        pinned = [policy.pin(s) for s in servers]
        capabilities = verify_servers(pinned, credentials, within=VERIFY_SECONDS)
        with ctx.db.session() as session:
            account = store_account(
                session,
                ctx.settings.data_dir,
                settings,
                credentials,
                capabilities,
                verified=servers,
                provider=provider.api_name,
                labels=labels,
            )
            app = auth.find_app(session, authz.app.client_id)
            if app is None:
                return _forget(error_page("Unknown client_id."))
            if authz.response_type == "token":
                token = auth.issue_token(session, account, app, authz.scopes)
                params = {"access_token": token, "token_type": "bearer", "state": authz.state}
                return _forget(redirect_to(authz.redirect_uri, params, fragment=True))
            code = auth.create_code(session, app, account, authz.redirect_uri, authz.scopes)
    except login.SignInFailed as exc:
        log.info("%s sign-in failed: %s", provider.name, exc)
        return _forget(error_redirect(authz, "access_denied", f"{provider.label} sign-in failed."))
    except (SyncError, HostRefused) as exc:
        log.info("%s sign-in: the mail servers refused: %s", provider.name, exc)
        reason = "Could not log in to the mail servers with this sign-in."
        return _forget(error_redirect(authz, "server_error", reason))
    except MoveRefused as exc:
        return _forget(error_redirect(authz, "access_denied", str(exc)))
    return _forget(redirect_to(authz.redirect_uri, {"code": code, "state": authz.state}))


def _forget(response: Response) -> Response:
    """A sign-in is used once: its cookie goes with the answer."""
    response.delete_cookie(COOKIE, path=COOKIE_PATH)
    return response
