"""Apps, access tokens, OAuth codes and webhooks: the queries behind /oauth and /a/{client_id}.

Secrets (client secrets, tokens, codes) are random and only their SHA-256 is stored; a
presented secret is hashed and looked up (or compared in constant time), never stored.
An app's accounts are the accounts that were ever issued a token for that app.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Select, bindparam, delete, func, literal, null, select, union_all, update
from sqlalchemy.orm import Session

from nylas_engine.security import digest, hash_password, matches, new_secret, verify_password
from nylas_engine.store.accounts import live_accounts
from nylas_engine.store.models import (
    AccessToken,
    Account,
    App,
    AuthCode,
    MetadataEntry,
    Webhook,
    WebhookCursor,
    now,
)

DEFAULT_SCOPES = "email,calendar,contacts"
CODE_LIFETIME = 600  # seconds an authorization code can be exchanged


# ---------------------------------------------------------------------------------- apps


def create_app(session: Session, name: str, redirect_uris: list[str]) -> tuple[App, str]:
    """A new app and its client secret (shown once: only the hash is kept)."""
    secret = new_secret()
    app = App(name=name, secret_hash=digest(secret), redirect_uris=list(redirect_uris))
    session.add(app)
    session.flush()
    return app, secret


def find_app(session: Session, client_id: str) -> App | None:
    if "\x00" in client_id:  # no app has one, and PostgreSQL refuses it in a query
        return None
    app: App | None = session.scalar(select(App).where(App.client_id == client_id))
    return app


def authenticate_app(session: Session, client_id: str, client_secret: str) -> App | None:
    """The app when `client_secret` is its secret (constant-time), else None."""
    app = find_app(session, client_id)
    if app is None or not matches(client_secret, app.secret_hash):
        return None
    return app


# ---------------------------------------------------------------------------------- login


@cache
def _dummy_password_hash() -> str:
    """Checked when no account matches, so a wrong email costs as long as a wrong password."""
    return hash_password(new_secret())


def login(session: Session, email: str, password: str) -> Account | None:
    """The local account with this email (any case) and password, else None."""
    account: Account | None = session.scalar(
        live_accounts().where(func.lower(Account.email_address) == email.strip().lower())
    )
    stored = account.password_hash if account is not None else None
    ok = verify_password(password, stored or _dummy_password_hash())
    return account if ok and stored else None


# ---------------------------------------------------------------------------------- tokens


def issue_token(
    session: Session, account: Account, app: App | None, scopes: str = DEFAULT_SCOPES
) -> str:
    """A new access token for `account` (optionally on behalf of `app`); returns the token."""
    return _new_token(session, account, app, scopes)[1]


def _new_token(
    session: Session, account: Account, app: App | None, scopes: str
) -> tuple[AccessToken, str]:
    token = new_secret()
    row = AccessToken(
        token_hash=digest(token),
        account_id=account.id,
        app_id=app.id if app else None,
        scopes=scopes,
    )
    session.add(row)
    session.flush()
    return row, token


def find_token(session: Session, token: str, *, live_only: bool = True) -> AccessToken | None:
    stmt = select(AccessToken).where(AccessToken.token_hash == digest(token))
    if live_only:
        stmt = stmt.where(AccessToken.revoked_at.is_(None))
    row: AccessToken | None = session.scalar(stmt)
    return row


# Built once (a request's authentication is one of these, with its own values).
_ACCOUNT_BY_TOKEN = (
    select(Account, AccessToken.scopes)
    .join(AccessToken, AccessToken.account_id == Account.id)
    .where(AccessToken.token_hash == bindparam("hash"), AccessToken.revoked_at.is_(None))
)
# Open mode: a live token first, else the account whose id was presented; both lookups by
# index in one statement (one round of the ORM instead of two).
_CANDIDATES = union_all(
    select(
        AccessToken.account_id.label("account_id"),
        AccessToken.scopes.label("scopes"),
        literal(0).label("rank"),
    ).where(AccessToken.token_hash == bindparam("hash"), AccessToken.revoked_at.is_(None)),
    select(Account.id, null(), literal(1)).where(Account.public_id == bindparam("public_id")),
).subquery()
_ACCOUNT_BY_TOKEN_OR_ID = (
    select(Account, _CANDIDATES.c.scopes)
    .join(_CANDIDATES, _CANDIDATES.c.account_id == Account.id)
    .order_by(_CANDIDATES.c.rank)
    .limit(1)
)


def account_for_token(
    session: Session, token: str, *, open_mode: bool
) -> tuple[Account, str | None] | None:
    """The account a live token opens, with the token's scopes; in open mode the account
    id itself is a token too, with no scopes named (it may do everything). One query."""
    if open_mode:
        values = {"hash": digest(token), "public_id": token}
        found = session.execute(_ACCOUNT_BY_TOKEN_OR_ID, values).first()
    else:
        found = session.execute(_ACCOUNT_BY_TOKEN, {"hash": digest(token)}).first()
    if found is None:
        return None
    account, scopes = found
    return account, scopes


def revoke(row: AccessToken) -> None:
    row.revoked_at = row.updated_at = now()


def revoke_all(session: Session, app: App, account: Account, keep: str | None = None) -> int:
    """Revoke every live token `app` holds for `account`, except `keep`; returns how many."""
    stmt = (
        update(AccessToken)
        .where(
            AccessToken.app_id == app.id,
            AccessToken.account_id == account.id,
            AccessToken.revoked_at.is_(None),
        )
        .values(revoked_at=now(), updated_at=now())
    )
    if keep:
        stmt = stmt.where(AccessToken.token_hash != digest(keep))
    return int(session.execute(stmt).rowcount or 0)  # type: ignore[attr-defined]


def could_be_a_guess(session: Session, client_id: str, presented: list[str]) -> bool:
    """Whether a failed sign-in as app `client_id` may be someone guessing its secret (and so
    counts towards the 429, api/ratelimit.py): the app exists, and nothing presented is a
    real credential elsewhere (another app's secret or a live token is a mix-up, not a
    guess). Only called on failures, so the unindexed secret lookup costs nothing on success."""
    if find_app(session, client_id) is None:
        return False
    hashes = [digest(value) for value in presented if value]
    if not hashes:
        return True
    other_app = session.scalar(select(App.id).where(App.secret_hash.in_(hashes)).limit(1))
    token = session.scalar(
        select(AccessToken.id)
        .where(AccessToken.token_hash.in_(hashes), AccessToken.revoked_at.is_(None))
        .limit(1)
    )
    return other_app is None and token is None


# ---------------------------------------------------------------------------------- codes


def create_code(
    session: Session, app: App, account: Account, redirect_uri: str, scopes: str
) -> str:
    """A one-time authorization code, valid for CODE_LIFETIME seconds."""
    code = new_secret()
    session.add(
        AuthCode(
            code_hash=digest(code),
            app_id=app.id,
            account_id=account.id,
            redirect_uri=redirect_uri,
            scopes=scopes,
            expires_at=now() + CODE_LIFETIME,
        )
    )
    session.flush()
    return code


@dataclass
class Grant:
    account: Account
    scopes: str
    access_token: str


def exchange_code(
    session: Session, app: App, code: str, redirect_uri: str | None = None
) -> Grant | None:
    """Use up `code` (issued to `app`) for a new access token to the account it grants; None
    if it is not valid.

    The code is marked used with a conditional UPDATE, so of two concurrent exchanges of
    the same code exactly one wins. A code presented again after its exchange revokes the
    token it was exchanged for (RFC 6749 §4.1.2: someone else may hold the code); the caller
    commits that before refusing the request.
    """
    row = session.scalar(
        select(AuthCode).where(AuthCode.code_hash == digest(code), AuthCode.app_id == app.id)
    )
    if row is None or row.expires_at < now():
        return None
    if row.used:
        issued = session.get(AccessToken, row.token_id) if row.token_id else None
        if issued is not None and issued.revoked_at is None:
            revoke(issued)
        return None
    if redirect_uri is not None and redirect_uri != row.redirect_uri:
        return None
    claimed = session.execute(
        update(AuthCode).where(AuthCode.id == row.id, AuthCode.used.is_(False)).values(used=True)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return None
    account = session.get(Account, row.account_id)
    if account is None or account.deleted_at is not None:
        return None
    issued, token = _new_token(session, account, app, row.scopes)
    row.token_id = issued.id
    return Grant(account, row.scopes, token)


# ---------------------------------------------------------------------------------- app accounts


def app_accounts(app: App) -> Select[Any]:
    """The live accounts that were ever issued a token for `app`, oldest first."""
    linked = select(AccessToken.account_id).where(AccessToken.app_id == app.id)
    return live_accounts().where(Account.id.in_(linked))


def app_account(session: Session, app: App, public_id: str) -> Account | None:
    account: Account | None = session.scalar(
        app_accounts(app).where(Account.public_id == public_id)
    )
    return account


def unlink_account(session: Session, app: App, account: Account) -> None:
    """Forget every token `app` has for `account`, so the account leaves the app's list."""
    session.execute(
        delete(AccessToken).where(
            AccessToken.app_id == app.id, AccessToken.account_id == account.id
        )
    )
    session.execute(
        delete(AuthCode).where(AuthCode.app_id == app.id, AuthCode.account_id == account.id)
    )
    # So do the metadata the app set on it, and its webhooks: linked again, it starts afresh.
    session.execute(
        delete(MetadataEntry).where(
            MetadataEntry.app_id == app.id, MetadataEntry.account_id == account.id
        )
    )
    session.execute(
        delete(WebhookCursor).where(
            WebhookCursor.account_id == account.id,
            WebhookCursor.webhook_id.in_(select(Webhook.id).where(Webhook.app_id == app.id)),
        )
    )


def app_token(session: Session, app: App, account: Account, token: str) -> AccessToken | None:
    """A token (live or revoked) that `app` issued for `account`."""
    row: AccessToken | None = session.scalar(
        select(AccessToken).where(
            AccessToken.token_hash == digest(token),
            AccessToken.app_id == app.id,
            AccessToken.account_id == account.id,
        )
    )
    return row


# ---------------------------------------------------------------------------------- webhooks


def app_webhooks(app: App) -> Select[Any]:
    return select(Webhook).where(Webhook.app_id == app.id).order_by(Webhook.id)


def find_webhook(session: Session, app: App, public_id: str) -> Webhook | None:
    webhook: Webhook | None = session.scalar(
        app_webhooks(app).where(Webhook.public_id == public_id)
    )
    return webhook


def create_webhook(
    session: Session, app: App, callback_url: str, triggers: list[str], state: str
) -> Webhook:
    webhook = Webhook(app_id=app.id, callback_url=callback_url, triggers=triggers, state=state)
    session.add(webhook)
    session.flush()
    return webhook


def delete_webhook(session: Session, webhook: Webhook) -> None:
    session.delete(webhook)
    session.flush()
