"""Native authentication (docs/protocol.md §16.2): connect an IMAP account without a browser.

`POST /connect/authorize` takes the server settings and passwords, logs in to IMAP (and
SMTP) to check them, creates the account (or re-authenticates the one with that address, on
its servers: sync/accounts.py) and returns a one-time code; `POST /connect/token` exchanges
the code, with the app's secret, for the account and an access token. Passwords are stored
encrypted and never echoed back.

The endpoint needs only a client_id, which is public, so it is guarded as a way into other
networks: in token mode only public mail hosts or those the operator allows (sync/hosts.py),
connected at the address checked; all checks of one request within CONNECT_SECONDS; a few
at once per app and per client IP; failures counted as failed sign-ins; and errors that say
only which server could not be reached or logged in to, nothing the server said.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy.orm import Session

from nylas_engine.api.deps import db_session, get_ctx, json_object
from nylas_engine.api.errors import API_ERROR, APIError, bad_request
from nylas_engine.api.openapi import doc
from nylas_engine.api.ratelimit import (
    CONNECT_SECONDS,
    auth_failures,
    client_ip,
    connect_attempts,
)
from nylas_engine.api.routes.oauth import app_by_secret, redeem_code
from nylas_engine.api.routing import SessionRoute
from nylas_engine.api.schemas import admin
from nylas_engine.api.views.account import account_json
from nylas_engine.calendar.when import InvalidInput
from nylas_engine.context import EngineContext
from nylas_engine.dav.settings import check_hosts, read_settings, store_settings
from nylas_engine.oauth import providers
from nylas_engine.oauth.login import oauth_account
from nylas_engine.scopes import scope_error
from nylas_engine.store import auth
from nylas_engine.store.credentials import MailCredentials, OAuthGrant
from nylas_engine.sync.accounts import (
    MOVE_NEEDS_PROOF,
    MoveRefused,
    Reconnection,
    plan_connection,
    store_account,
    verify_servers,
)
from nylas_engine.sync.hosts import UNRESTRICTED, HostRefused, policy_for
from nylas_engine.sync.imap import (
    SECURITY_MODES,
    AuthFailed,
    ServerSettings,
    ServerUnreachable,
    default_imap_port,
    default_smtp_port,
)

router = APIRouter(route_class=SessionRoute)
log = logging.getLogger("nylas_engine.connect")

IMAP_PROVIDERS = admin.CONNECT_PROVIDERS[:6]
# Native auth with a refresh token (hosted v2's fields): the settings' key prefix by provider.
OAUTH_PROVIDERS = {"gmail": "google", "office365": "microsoft"}


def _string(data: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    value = data.get(name)
    if value in (None, ""):
        if required:
            raise bad_request(f"Missing required field: {name}")
        return None
    if not isinstance(value, str):
        raise bad_request(f"{name} must be a string")
    return value


def _port(data: dict[str, Any], name: str) -> int | None:
    value = data.get(name)
    if value in (None, ""):
        return None
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise bad_request(f"{name} must be a port number") from None
    if not 0 < port < 65536:
        raise bad_request(f"{name} must be a port number")
    return port


def _security(settings: dict[str, Any], imap_port: int | None) -> str:
    """`ssl_required` (the hosted field) means TLS: implicit on 993, else STARTTLS.
    An explicit `security` of tls|starttls|plain wins."""
    explicit = settings.get("security")
    if explicit is not None:
        if explicit not in SECURITY_MODES:
            raise bad_request(f"security must be one of {', '.join(SECURITY_MODES)}")
        return str(explicit)
    required = settings.get("ssl_required", True)
    if required in (False, "false", "False", 0):
        return "plain"
    return "tls" if imap_port in (None, 993) else "starttls"


def server_settings(body: dict[str, Any]) -> tuple[ServerSettings, MailCredentials]:
    email = _string(body, "email_address", required=True)
    assert email is not None
    settings = body.get("settings")
    if not isinstance(settings, dict):
        raise bad_request("Missing required field: settings")
    imap_host = _string(settings, "imap_host", required=True)
    password = _string(settings, "imap_password", required=True)
    assert imap_host is not None and password is not None
    imap_port = _port(settings, "imap_port")
    security = _security(settings, imap_port)
    smtp_host = _string(settings, "smtp_host")
    username = _string(settings, "imap_username") or email
    return (
        ServerSettings(
            email=email,
            imap_host=imap_host,
            imap_port=imap_port or default_imap_port(security),
            imap_username=username,
            smtp_host=smtp_host,
            smtp_port=(_port(settings, "smtp_port") or default_smtp_port(security))
            if smtp_host
            else None,
            smtp_username=_string(settings, "smtp_username") or username,
            security=security,
        ),
        MailCredentials(password, _string(settings, "smtp_password")),
    )


def oauth_settings(
    body: dict[str, Any], provider: str
) -> tuple[ServerSettings, MailCredentials, bool]:
    """`provider: gmail` with `settings: {google_client_id, google_client_secret,
    google_refresh_token}`, or `office365` with the `microsoft_` ones: the account's servers
    (the provider's, sync/presets.py), its credentials and folder model. The token
    endpoint is the operator's setting for the provider, never the caller's."""
    email = _string(body, "email_address", required=True)
    settings = body.get("settings")
    if not isinstance(settings, dict):
        raise bad_request("Missing required field: settings")
    prefix = OAUTH_PROVIDERS[provider]
    found = {
        key: _string(settings, f"{prefix}_{key}", required=True)
        for key in ("client_id", "client_secret", "refresh_token")
    }
    assert email is not None
    p = providers.provider(prefix)
    grant = OAuthGrant(
        p.name, p.token_url, str(found["client_id"]), str(found["client_secret"]),
        str(found["refresh_token"]),
    )  # fmt: skip
    return oauth_account(p, email.strip(), grant)


@router.post(
    "/connect/authorize", **doc(401, 403, 409, 429, reply=dict[str, Any], body=admin.ConnectInput)
)
def authorize(
    request: Request,
    body: dict[str, Any] = Depends(json_object),
    ctx: EngineContext = Depends(get_ctx),
) -> Any:
    """Check the servers, then create or re-authenticate the account (sync/accounts.py says
    who may move an account to other servers). No database session is open while the
    engine talks to the mail servers: one before (the app, the account's rule), one after
    (store the account, issue the code)."""
    client_id = _string(body, "client_id", required=True)
    assert client_id is not None
    provider = _string(body, "provider") or "imap"
    labels = False
    if provider in OAUTH_PROVIDERS:
        settings, credentials, labels = oauth_settings(body, provider)
    elif provider in IMAP_PROVIDERS:
        settings, credentials = server_settings(body)
    else:
        raise bad_request(
            f"Provider {provider!r} is not supported: this engine connects IMAP, "
            "gmail and office365."
        )
    try:  # calendars and contacts on CalDAV/CardDAV servers, if given (dav/settings.py)
        dav = read_settings(body.get("settings") or {})
    except InvalidInput as exc:
        raise bad_request(str(exc)) from None
    scopes = _string(body, "scopes") or auth.DEFAULT_SCOPES
    if problem := scope_error(scopes):
        raise bad_request(problem)
    secret = _string(body, "client_secret")
    limiter = auth_failures(request)
    attempt = limiter.check(request, settings.email, "email")
    with ctx.db.session() as session:
        if auth.find_app(session, client_id) is None:
            raise bad_request("Unknown client_id.")
        plan = plan_connection(session, settings)
        move_allowed = plan.moves and _may_move(request, session, client_id, secret, plan)
    try:
        servers = plan.servers_to_verify(move_allowed=move_allowed)
    except MoveRefused as exc:
        raise APIError(403, str(exc)) from None
    policy = policy_for(ctx.settings.auth_mode, ctx.settings.allow_mail_hosts)
    try:
        if dav is not None:
            check_hosts(policy, dav)
        with connect_attempts(request).hold([f"client:{client_id}", f"ip:{client_ip(request)}"]):
            # Only the new servers are the caller's choice; the account's current ones
            # (checked first when it moves) are where its mail already lives. Name lookups
            # are held under the cap too: a name server may be slow on purpose.
            pinned = [*(UNRESTRICTED.pin(s) for s in servers[:-1]), policy.pin(servers[-1])]
            capabilities = verify_servers(pinned, credentials, within=CONNECT_SECONDS)
    except HostRefused as exc:
        raise bad_request(str(exc)) from None
    except AuthFailed as exc:
        limiter.failed(attempt)
        log.info("connect %s: %s", settings.email, exc)
        raise APIError(403, f"Could not log in to the {exc.server} server.") from None
    except ServerUnreachable as exc:
        limiter.failed(attempt)
        log.info("connect %s: %s", settings.email, exc)
        raise APIError(503, f"Could not connect to the {exc.server} server.", API_ERROR) from None
    with ctx.db.session() as session:
        app = auth.find_app(session, client_id)
        if app is None:
            raise bad_request("Unknown client_id.")
        try:
            account = store_account(
                session,
                ctx.settings.data_dir,
                settings,
                credentials,
                capabilities,
                verified=servers,
                name=_string(body, "name") or "",
                provider="custom" if provider == "imap" else provider,
                labels=labels,
                # The servers of an OAuth provider are the operator's, not the caller's.
                hosts_checked=policy.restricted and provider not in OAUTH_PROVIDERS,
            )
        except MoveRefused as exc:
            raise APIError(409, str(exc)) from None
        if dav is not None:
            store_settings(session, ctx.settings.data_dir, account.id, dav)
        return {"code": auth.create_code(session, app, account, "", scopes)}


def _may_move(
    request: Request, session: Session, client_id: str, secret: str | None, plan: Reconnection
) -> bool:
    """Whether the caller proved to be an app the account is linked to: the app of
    `client_id`, its `client_secret` (compared in constant time), holding a token for the
    account. A wrong secret counts as a failed sign-in (api/ratelimit.py)."""
    if secret is None or plan.account_id is None:
        return False
    attempt = auth_failures(request).check(request, client_id, "client")
    app = app_by_secret(
        request, session, client_id, secret, attempt, APIError(403, "Invalid client_secret.")
    )
    if auth.app_account(session, app, plan.account_id) is None:
        raise APIError(403, MOVE_NEEDS_PROOF)
    return True


@router.post("/connect/token", **doc(401, 429, reply=admin.Token))
def token(
    request: Request, body: dict[str, Any] = Depends(json_object), session: Session = db_session
) -> Any:
    client_id = _string(body, "client_id", required=True)
    secret = _string(body, "client_secret", required=True)
    code = _string(body, "code", required=True)
    assert client_id is not None and secret is not None and code is not None
    grant = redeem_code(request, session, client_id, secret, code, bad_code="Invalid code")
    return {
        **account_json(grant.account),
        "access_token": grant.access_token,
        "billing_state": grant.account.billing_state,
    }
