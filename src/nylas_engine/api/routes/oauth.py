"""Hosted-style OAuth (docs/protocol.md §16.1): the login/consent page, code exchange, revocation.

`GET /oauth/authorize` shows a small login page for the engine's local accounts; the form
posts back to `/oauth/authorize`. The form carries a random nonce that must equal the one in
a `SameSite=Strict`, HttpOnly cookie set with the page (double submit), so another site can
neither post the form for a user nor read the nonce. Every value echoed in the page is
HTML-escaped, and the engine only ever redirects to a redirect URI registered for the app.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from html import escape
from importlib.resources import files
from string import Template
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from nylas_engine.api.deps import credential, db_session, json_object
from nylas_engine.api.errors import APIError, bad_request, unauthorized
from nylas_engine.api.openapi import doc, html_page
from nylas_engine.api.ratelimit import Attempt, TooManyFailures, auth_failures
from nylas_engine.api.routing import SessionRoute
from nylas_engine.api.schemas import admin
from nylas_engine.scopes import scope_error
from nylas_engine.security import new_secret
from nylas_engine.store import auth
from nylas_engine.store.models import App

BAD_CLIENT = "Invalid client_id or client_secret."

router = APIRouter(route_class=SessionRoute)
PAGE = html_page()

CSRF_COOKIE = "nylas_engine_csrf"
CSRF_FIELD = "csrf_token"
RESPONSE_TYPES = ("code", "token")
MAX_FIELD = 2048
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


# ------------------------------------------------------------------------------ the request


class PageError(Exception):
    """The request cannot be trusted to redirect anywhere: show an error page."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class RedirectableError(Exception):
    """An error the app can be told about at its (registered) redirect URI."""

    def __init__(self, error: str, reason: str) -> None:
        super().__init__(reason)
        self.error = error
        self.reason = reason


@dataclass
class AuthorizeRequest:
    app: App
    redirect_uri: str
    response_type: str
    scopes: str
    state: str
    login_hint: str
    redirect_on_error: bool

    def hidden_fields(self) -> dict[str, str]:
        return {
            "client_id": self.app.client_id,
            "redirect_uri": self.redirect_uri,
            "response_type": self.response_type,
            "scopes": self.scopes,
            "state": self.state,
            "redirect_on_error": "true" if self.redirect_on_error else "false",
        }


def parse_authorize(session: Session, params: Mapping[str, str]) -> AuthorizeRequest:
    """Check the query of /oauth/authorize (or the fields of its form).

    Raises PageError while the redirect URI is not yet known to be registered (nothing may
    be sent there), RedirectableError for problems found after that.
    """
    for name in ("client_id", "redirect_uri", "state", "scopes", "login_hint"):
        if len(params.get(name, "")) > MAX_FIELD:
            raise PageError(f"The {name} parameter is too long.")
    client_id = params.get("client_id", "")
    app = auth.find_app(session, client_id) if client_id else None
    if app is None:
        raise PageError("Unknown client_id: no application is registered with this id.")
    redirect_uri = params.get("redirect_uri", "")
    if not redirect_uri:
        raise PageError("The redirect_uri parameter is missing.")
    if redirect_uri not in (app.redirect_uris or []) or urlsplit(redirect_uri).fragment:
        raise PageError(
            "This redirect_uri is not registered for the application. Register it with "
            "`nylas-engine apps create --redirect-uri` or PUT /a/{client_id}."
        )
    parsed = AuthorizeRequest(
        app=app,
        redirect_uri=redirect_uri,
        response_type=params.get("response_type") or "code",
        scopes=",".join(s.strip() for s in params.get("scopes", "").split(",") if s.strip())
        or auth.DEFAULT_SCOPES,
        state=params.get("state", ""),
        login_hint=params.get("login_hint", ""),
        redirect_on_error=params.get("redirect_on_error", "").lower() == "true",
    )
    if parsed.response_type not in RESPONSE_TYPES:
        raise RedirectableError(
            "unsupported_response_type", "response_type must be 'code' or 'token'."
        )
    if len(parsed.scopes) > 255:
        raise RedirectableError("invalid_scope", "Too many scopes were requested.")
    if problem := scope_error(parsed.scopes):
        raise RedirectableError("invalid_scope", problem)
    return parsed


def redirect_to(uri: str, params: dict[str, str], *, fragment: bool = False) -> Response:
    """303 to `uri` with `params` added to its query (or set as its fragment)."""
    params = {k: v for k, v in params.items() if v}
    parts = urlsplit(uri)
    if fragment:
        parts = parts._replace(fragment=urlencode(params))
    else:
        query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
        parts = parts._replace(query=urlencode(query))
    return RedirectResponse(
        urlunsplit(parts), status_code=303, headers={"Cache-Control": "no-store"}
    )


def error_redirect(authz: AuthorizeRequest, error: str, reason: str) -> Response:
    return redirect_to(authz.redirect_uri, {"error": error, "reason": reason, "state": authz.state})


# ------------------------------------------------------------------------------ pages


@cache
def _template(name: str) -> Template:
    text = (
        files("nylas_engine.api").joinpath("templates").joinpath(name).read_text(encoding="utf-8")
    )
    return Template(text)


def error_page(message: str, status: int = 400) -> HTMLResponse:
    html = _template("authorize_error.html").substitute(message=escape(message))
    return HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)


def login_page(
    request: Request,
    authz: AuthorizeRequest,
    *,
    email: str = "",
    error: str = "",
    status: int = 200,
) -> HTMLResponse:
    """The login form; sets (or keeps) the CSRF cookie whose value the form repeats."""
    nonce = request.cookies.get(CSRF_COOKIE, "")
    if not (20 <= len(nonce) <= 100):
        nonce = new_secret(24)
    fields = {**authz.hidden_fields(), CSRF_FIELD: nonce}
    hidden = "\n    ".join(
        f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">' for k, v in fields.items()
    )
    html = _template("authorize.html").substitute(
        app_name=escape(authz.app.name or "An application"),
        scopes=escape(authz.scopes.replace(",", ", ")),
        error=f'<p class="error" role="alert">{escape(error)}</p>' if error else "",
        hidden=hidden,
        email=escape(email or authz.login_hint),
        redirect_uri=escape(authz.redirect_uri),
        providers=_provider_buttons(authz),
    )
    response = HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)
    response.set_cookie(
        CSRF_COOKIE,
        nonce,
        max_age=3600,
        path="/oauth/authorize",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


def _provider_buttons(authz: AuthorizeRequest) -> str:
    """ "Sign in with Google / Microsoft" for the providers the operator set up
    (api/routes/oauth_providers.py)."""
    from nylas_engine.oauth.providers import configured_providers

    links = []
    for p in configured_providers():
        query = urlencode(
            {**authz.hidden_fields(), "login_hint": authz.login_hint, "provider": p.name}
        )
        links.append(
            f'<a class="provider" href="/oauth/provider/start?{escape(query)}">'
            f"Sign in with {escape(p.label)}</a>"
        )
    return f'<div class="providers">{"".join(links)}</div><p class="or">or</p>' if links else ""


# ------------------------------------------------------------------------------ authorize


@router.get("/oauth/authorize", **PAGE)
def authorize_page(request: Request, session: Session = db_session) -> Response:
    try:
        parsed = parse_authorize(session, request.query_params)
    except PageError as exc:
        return error_page(exc.message)
    except RedirectableError as exc:
        return _redirectable_failure(request.query_params, exc)
    return login_page(request, parsed)


async def form_fields(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


@router.post("/oauth/authorize", **html_page(form=True))
def authorize_submit(
    request: Request, session: Session = db_session, form: dict[str, Any] = Depends(form_fields)
) -> Response:
    try:
        parsed = parse_authorize(session, form)
    except PageError as exc:
        return error_page(exc.message)
    except RedirectableError as exc:
        return _redirectable_failure(form, exc)

    cookie = request.cookies.get(CSRF_COOKIE, "")
    sent = form.get(CSRF_FIELD, "")
    if not cookie or not hmac.compare_digest(cookie.encode(), sent.encode()):
        return login_page(
            request,
            parsed,
            email=form.get("email", ""),
            error="This sign-in form expired. Please sign in again.",
            status=400,
        )
    if form.get("action") == "deny":
        return error_redirect(parsed, "access_denied", "The user did not allow access.")

    email = form.get("email", "")[:320]
    limiter = auth_failures(request)
    try:
        attempt = limiter.check(request, email, "email")
    except TooManyFailures as exc:
        if parsed.redirect_on_error:
            return error_redirect(parsed, "too_many_attempts", exc.message)
        page = login_page(request, parsed, email=email, error=exc.message, status=429)
        page.headers.update(exc.headers or {})
        return page
    account = auth.login(session, email, form.get("password", "")[:1024])
    if account is None:
        limiter.failed(attempt)
        reason = "Wrong email address or password."
        if parsed.redirect_on_error:
            return error_redirect(parsed, "invalid_credentials", reason)
        return login_page(request, parsed, email=form.get("email", ""), error=reason, status=401)

    if parsed.response_type == "token":
        token = auth.issue_token(session, account, parsed.app, parsed.scopes)
        params = {"access_token": token, "token_type": "bearer", "state": parsed.state}
        return redirect_to(parsed.redirect_uri, params, fragment=True)
    code = auth.create_code(session, parsed.app, account, parsed.redirect_uri, parsed.scopes)
    return redirect_to(parsed.redirect_uri, {"code": code, "state": parsed.state})


def _redirectable_failure(params: Mapping[str, str], exc: RedirectableError) -> Response:
    """parse_authorize raises RedirectableError only once the redirect URI is registered."""
    if params.get("redirect_on_error", "").lower() == "true":
        return redirect_to(
            params["redirect_uri"],
            {"error": exc.error, "reason": exc.reason, "state": params.get("state", "")},
        )
    return error_page(exc.reason)


# ------------------------------------------------------------------------------ token


async def token_fields(request: Request) -> dict[str, Any]:
    """The fields of /oauth/token from a form or a JSON body (§16.1). Not from the query
    string: the client secret has no place there (a query holding it is refused before any
    route, api/query_guard.py), so neither have the other fields."""
    fields: dict[str, Any] = {}
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("application/json"):
        fields.update(await json_object(request))
    elif ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        fields.update(await form_fields(request))
    return fields


def redeem_code(
    request: Request,
    session: Session,
    client_id: str,
    client_secret: str,
    code: str,
    redirect_uri: str | None = None,
    *,
    bad_code: str,
) -> auth.Grant:
    """The app's secret checked and its code exchanged for a token (/oauth/token and
    /connect/token); a wrong secret is a 401, a bad code a 400 starting with `bad_code`.
    Both count towards the client id's 429 (api/ratelimit.py)."""
    limiter = auth_failures(request)
    attempt = limiter.check(request, client_id, "client")
    app = app_by_secret(
        request, session, client_id, client_secret, attempt, APIError(401, BAD_CLIENT)
    )
    grant = auth.exchange_code(session, app, code, redirect_uri)
    if grant is None:
        limiter.failed(attempt)
        session.commit()  # a reused code has had its token revoked: that stands
        raise bad_request(f"{bad_code}: it is unknown, expired or already used.")
    return grant


@router.post("/oauth/token", **doc(401, 429, reply=admin.Token))
def token(
    request: Request,
    session: Session = db_session,
    fields: dict[str, Any] = Depends(token_fields),
) -> Any:
    names = ("client_id", "client_secret", "grant_type", "code", "redirect_uri")
    if not all(isinstance(fields.get(n, ""), str) for n in names):
        raise bad_request("Every field must be a string")
    values: dict[str, str] = {n: fields.get(n) or "" for n in names}
    missing = [n for n in ("client_id", "client_secret", "code") if not values[n]]
    if missing:
        raise bad_request(f"Missing required fields: {', '.join(missing)}")
    if (values["grant_type"] or "authorization_code") != "authorization_code":
        raise bad_request("grant_type must be authorization_code")
    grant = redeem_code(
        request,
        session,
        values["client_id"],
        values["client_secret"],
        values["code"],
        values["redirect_uri"] or None,
        bad_code="Invalid authorization code",
    )
    return {
        "access_token": grant.access_token,
        "account_id": grant.account.public_id,
        "email_address": grant.account.email_address,
        "provider": grant.account.provider,
        "token_type": "bearer",
    }


# ------------------------------------------------------------------------------ revoke


@router.post("/oauth/revoke", **doc(401, 429, reply=dict[str, Any]))
def revoke(request: Request, session: Session = db_session) -> Any:
    """Revokes the access token the request is authenticated with."""
    presented = credential(request)
    row = auth.find_token(session, presented) if presented else None
    if row is None:
        raise unauthorized()
    auth.revoke(row)
    return {"success": True}


def app_by_secret(
    request: Request,
    session: Session,
    client_id: str,
    secret: str,
    attempt: Attempt,
    refusal: APIError,
) -> App:
    """The app of `client_id` if `secret` is its client secret (compared in constant time),
    else `refusal` is raised; a wrong secret that could be a guess counts as a failed
    `attempt` towards the client id's 429 (api/ratelimit.py)."""
    app = auth.authenticate_app(session, client_id, secret)
    if app is None:
        if auth.could_be_a_guess(session, client_id, [secret]):
            auth_failures(request).failed(attempt)
        raise refusal
    return app
