"""Request dependencies: the engine context, a database session, the authenticated account.

Every account-scoped route takes `scope: AccountScope = Depends(account_scope)` (or
`write_scope` for writes, which also applies the account-state checks of docs/protocol.md §1.2) and
passes `scope.account` to the store, which filters every query on it.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import anyio
from fastapi import Depends, Request
from sqlalchemy.orm import Session

from nylas_engine.api.errors import APIError, bad_request, unauthorized
from nylas_engine.api.ratelimit import auth_failures
from nylas_engine.config import MAX_JSON_BYTES
from nylas_engine.context import EngineContext
from nylas_engine.scopes import FULL, Grants
from nylas_engine.store.auth import account_for_token, authenticate_app, could_be_a_guess
from nylas_engine.store.models import Account, App
from nylas_engine.store.webhooks import keep_secret


def engine_context(request: Request) -> EngineContext:
    ctx: EngineContext = request.app.state.ctx
    return ctx


async def get_ctx(request: Request) -> EngineContext:
    """`engine_context` as a dependency. `async` because FastAPI runs a plain `def`
    dependency in a worker thread: every request would wait for the pool twice, once for
    this and once for its route."""
    return engine_context(request)


async def _session(ctx: EngineContext = Depends(get_ctx)) -> AsyncIterator[Session]:
    """The request's session. Made on the event loop (a Session connects only when used) and
    used only inside worker-thread calls, each of which ends its own transaction before it
    returns (`transaction` here, `api/routing.py` for route bodies): between those calls,
    while the request waits for a thread, the client or the network, it holds no connection
    and no lock. What is left at the end (nothing, unless a dependency failed half-way) is
    rolled back in a thread that needs no slot of the busy pool."""
    session = ctx.db.sessions()
    try:
        yield session
    finally:
        if session.in_transaction():
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(session.close, limiter=anyio.CapacityLimiter(1))
        else:
            session.close()


db_session = Depends(_session, scope="function")


@contextmanager
def transaction(session: Session) -> Iterator[None]:
    """Ends the session's transaction when the block ends (commit, or rollback on an error),
    which gives its connection back to the pool; the objects it loaded stay usable."""
    try:
        yield
    except BaseException:
        session.rollback()
        raise
    session.commit()


@contextmanager
def released(session: Session, *unsaved: object) -> Iterator[None]:
    """Ends the session's transaction without writing anything, for network I/O that must
    happen before a write (no connection or lock is held while it waits). The `unsaved`
    objects keep their changes: they leave the session and come back when the block ends,
    to be written with the rest; everything else is read again when next used."""
    kept = [o for o in unsaved if o in session]
    for obj in kept:
        session.expunge(obj)
    session.rollback()
    try:
        yield
    finally:
        for obj in kept:
            session.add(obj)


def _authorization(request: Request) -> tuple[str, str]:
    """(scheme in lower case, credentials) of the Authorization header."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return scheme.lower(), value.strip()


def basic_pair(value: str) -> tuple[str, str] | None:
    """The (username, password) of a Basic credential, or None if it does not decode."""
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except ValueError:  # not base64 (binascii.Error), not ASCII, or not UTF-8 underneath
        return None
    user, _, password = decoded.partition(":")
    return user, password


def credential(request: Request) -> str | None:
    """The token from `Authorization: Bearer T` or Basic `T:` (username only); None for
    anything no token can be (empty, or with control characters such as NUL)."""
    scheme, value = _authorization(request)
    token: str | None = None
    if scheme == "bearer":
        token = value
    elif scheme == "basic" and value and (pair := basic_pair(value)):
        token = pair[0]
    return token if token and token.isprintable() else None


@dataclass
class AccountScope:
    """The authenticated account of a request, with the request's session and grants.

    A route's scope is made on the event loop from the request alone and authenticated in
    the worker thread that runs the route (api/routing.py `SessionRoute`), in the route's
    own transaction: one thread hop and one transaction per request, not one for the
    dependency and another for the route. Nothing is cached between requests: a revoked
    token or a deleted account is refused by the very next request, in every process."""

    ctx: EngineContext
    session: Session
    _account: Account | None
    token: str
    grants: Grants = FULL
    # What authenticating checks besides the token: (method, route template, path, write).
    pending: tuple[str, str, str, bool] | None = None

    @property
    def account(self) -> Account:
        assert self._account is not None, "authenticate() first"
        return self._account

    def authenticate(self) -> None:
        """The token's account and grants, checked for this request (in a worker thread,
        inside a transaction of `session`): 401, 404 (deleted), 403 (downgraded, out of
        the token's scopes, or, for writes, credentials or sync in a bad state)."""
        if self.pending is None:
            return
        method, route, path, write = self.pending
        found = account_for_token(
            self.session, self.token, open_mode=self.ctx.settings.auth_mode == "open"
        )
        if found is None:
            raise unauthorized()
        account, scopes = found
        if account.deleted_at is not None:
            raise APIError(404, "The account does not exist.")
        if account.billing_state in ("cancelled", "deleted"):
            raise APIError(
                403, "This account has been downgraded. Upgrade it to use the API again."
            )
        grants = Grants.parse(scopes) if scopes is not None else FULL
        grants.require(method, route, path)  # the token's scopes (scopes.py)
        if write:
            _check_writable(account)
        self._account, self.grants, self.pending = account, grants, None


def _unauthenticated(request: Request, ctx: EngineContext, session: Session) -> AccountScope:
    """The request's scope before its token is looked up (401 at once without one)."""
    token = credential(request)
    if token is None:
        raise unauthorized()
    route = getattr(request.scope.get("route"), "path", None) or request.url.path
    pending = (request.method, route, request.url.path, False)
    return AccountScope(ctx, session, None, token, pending=pending)


async def deferred_account_scope(
    request: Request, ctx: EngineContext = Depends(get_ctx), session: Session = db_session
) -> AccountScope:
    """`account_scope` for routes that authenticate in their own worker thread (a plain
    `def` route of a `SessionRoute`, which calls `authenticate`): no thread of its own."""
    scope = _unauthenticated(request, ctx, session)
    request.state.deferred_scope = scope  # for `credentials_error`
    return scope


async def credentials_error(request: Request) -> APIError | None:
    """For a request refused as malformed before its route authenticated it (a route that
    authenticates late, api/routing.py): the error its credentials get, if they fail. A
    caller who isn't let in hears that first (401 before 400), whatever else is wrong."""
    route = request.scope.get("route")
    if not getattr(route, "defers_authentication", False):
        return None
    scope: AccountScope | None = getattr(request.state, "deferred_scope", None)
    if scope is not None and scope.pending is None:
        return None  # authenticated: the error is the request's own
    ctx = engine_context(request)
    session = ctx.db.sessions()
    try:
        checked = _unauthenticated(request, ctx, session)

        def authenticate() -> None:
            with transaction(session):
                checked.authenticate()

        await anyio.to_thread.run_sync(authenticate)
    except APIError as exc:
        return exc
    finally:
        session.close()
    return None


async def deferred_write_scope(
    scope: AccountScope = Depends(deferred_account_scope),
) -> AccountScope:
    """`write_scope` for the same routes: the write checks run with the authentication."""
    if scope.pending is not None:
        scope.pending = (*scope.pending[:3], True)
    return scope


def account_scope(
    request: Request, ctx: EngineContext = Depends(get_ctx), session: Session = db_session
) -> AccountScope:
    """The request's authenticated scope, in a transaction of its own (for `async` routes
    and the dependencies that authenticate themselves)."""
    scope = _unauthenticated(request, ctx, session)
    with transaction(session):  # no connection held while the route waits for a thread
        scope.authenticate()
    return scope


def _check_writable(account: Account) -> None:
    state = account.sync_state
    if state == "invalid":
        raise APIError(
            403,
            "This action can't be performed because the account's credentials are out of "
            "date. Please reauthenticate and try again.",
        )
    if state == "stopped":
        raise APIError(
            403,
            "This action can't be performed because the account's sync has been stopped. "
            "Please contact support@nylas.com to resume sync.",
        )


def write_scope(scope: AccountScope = Depends(account_scope)) -> AccountScope:
    """Writes (and search) also need an account whose credentials and sync are in order."""
    _check_writable(scope.account)
    return scope


@dataclass
class AppScope:
    """An /a/{client_id} request authenticated with the app's client secret."""

    ctx: EngineContext
    session: Session
    app: App


def app_scope(
    request: Request,
    client_id: str,
    ctx: EngineContext = Depends(get_ctx),
    session: Session = db_session,
) -> AppScope:
    """/a/{client_id}/... authenticated with the app's client secret, and nothing else.

    An access token is refused even when this app issued it: a token speaks for one user of
    one account (perhaps with a read-only scope), while these routes act for the app on every
    account linked to it (downgrade cuts all apps off). SDK 5 sends its access token as
    Bearer on some /a/ calls, which hosted accepted; the engine refuses it (issue 10,
    docs/protocol.md §1.2): such a client must be made with the app id and secret and no
    access token for these calls."""
    with transaction(session):  # no connection held while the route waits for a thread
        return _authenticated_app(request, client_id, ctx, session)


def _authenticated_app(
    request: Request, client_id: str, ctx: EngineContext, session: Session
) -> AppScope:
    scheme, value = _authorization(request)
    if not value:
        raise unauthorized()
    # Wrong secrets (or tokens) for this client_id count towards its 429 (api/ratelimit.py).
    limiter = auth_failures(request)
    attempt = limiter.check(request, client_id, "client")
    presented = [value]
    if scheme == "basic" and (pair := basic_pair(value)):
        user, password = pair
        presented = [user, password]
        # Basic "<client_secret>:" (SDK 3-5) or Basic "<client_id>:<client_secret>".
        secret = user if not password else password if user == client_id else None
        if secret and (app := authenticate_app(session, client_id, secret)):
            keep_secret(app, secret, ctx.vault)
            return AppScope(ctx, session, app)
    if could_be_a_guess(session, client_id, presented):
        limiter.failed(attempt)
    raise unauthorized()


# How much of an oversized JSON body is read (and dropped) before the 413 is sent, so that a
# client still sending sees the reply rather than a reset connection.
_DRAIN_LIMIT = 16 * 1024 * 1024


async def json_object(request: Request) -> dict[str, Any]:
    """The request body as a JSON object; anything else is a 400 (never a 500), and a body
    over MAX_JSON_BYTES is a 413 even when it came without a Content-Length (chunked)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_JSON_BYTES:
            if size - MAX_JSON_BYTES < _DRAIN_LIMIT:
                continue
            break
        chunks.append(chunk)
    if size > MAX_JSON_BYTES:
        raise APIError(
            413, f"Request body is larger than the limit of {MAX_JSON_BYTES} bytes.", "api_error"
        )
    raw = b"".join(chunks)
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise bad_request("Invalid request body: malformed JSON") from exc
    if not isinstance(data, dict):
        raise bad_request("Invalid request body: expected a JSON object")
    if _holds_bad_text(data):
        raise bad_request(
            "Invalid request body: text may not contain NUL characters or lone surrogates"
        )
    return data


# A NUL can't be stored in PostgreSQL text (and has no place in mail); a lone surrogate
# (`"\ud800"` in JSON) is no character at all and can't be encoded as UTF-8. JSON bodies
# are refused for them here, once, rather than failing in whichever store or header
# writer meets them first.
_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")


def _holds_bad_text(data: Any) -> bool:
    """Whether any string in a parsed JSON value (keys too) holds a NUL or a lone surrogate.
    A loop, not recursion: the nesting depth is the client's choice."""
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _BAD_TEXT.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False
