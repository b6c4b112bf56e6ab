"""Native authentication (wire-api §16.2): connect an IMAP account without a browser.

`POST /connect/authorize` takes the server settings and passwords, logs in to IMAP (and
SMTP) to check them, creates the account (or updates the one with that address) and returns
a one-time code; `POST /connect/token` exchanges the code, with the app's secret, for the
account and an access token. Passwords are stored encrypted and never echoed back.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy.orm import Session

from nylas_engine.api.deps import db_session, get_ctx, json_object
from nylas_engine.api.errors import API_ERROR, APIError, bad_request
from nylas_engine.api.ratelimit import auth_failures
from nylas_engine.api.routes.oauth import redeem_code
from nylas_engine.api.routing import SessionRoute
from nylas_engine.api.scopes import scope_error
from nylas_engine.api.views.account import account_json
from nylas_engine.context import EngineContext
from nylas_engine.store import auth
from nylas_engine.store.credentials import MailCredentials
from nylas_engine.sync.accounts import connect_account
from nylas_engine.sync.imap import (
    SECURITY_MODES,
    AuthFailed,
    ServerSettings,
    ServerUnreachable,
    default_imap_port,
    default_smtp_port,
)

router = APIRouter(route_class=SessionRoute)

IMAP_PROVIDERS = ("imap", "custom", "icloud", "yahoo", "aol", "fastmail")


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


@router.post("/connect/authorize")
def authorize(
    request: Request,
    body: dict[str, Any] = Depends(json_object),
    session: Session = db_session,
    ctx: EngineContext = Depends(get_ctx),
) -> Any:
    client_id = _string(body, "client_id", required=True)
    assert client_id is not None
    app = auth.find_app(session, client_id)
    if app is None:
        raise bad_request("Unknown client_id.")
    provider = _string(body, "provider") or "imap"
    if provider not in IMAP_PROVIDERS:
        raise bad_request(f"Provider {provider!r} is not supported: this engine connects IMAP.")
    settings, credentials = server_settings(body)
    scopes = _string(body, "scopes") or auth.DEFAULT_SCOPES
    if problem := scope_error(scopes):
        raise bad_request(problem)
    limiter = auth_failures(request)
    attempt = limiter.check(request, settings.email, "email")
    try:
        account = connect_account(
            session,
            ctx.settings.data_dir,
            settings,
            credentials,
            name=_string(body, "name") or "",
            provider="custom" if provider == "imap" else provider,
        )
    except AuthFailed as exc:
        limiter.failed(attempt)
        raise APIError(403, f"Invalid credentials: {exc}") from None
    except ServerUnreachable as exc:
        raise APIError(503, str(exc), API_ERROR) from None
    return {"code": auth.create_code(session, app, account, "", scopes)}


@router.post("/connect/token")
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
