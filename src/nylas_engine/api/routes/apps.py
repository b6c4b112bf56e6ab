"""Application-level endpoints `/a/{client_id}/...` (docs/protocol.md §16.3, §16.4).

Authenticated with the app's client secret (Basic `<secret>:` or `<client_id>:<secret>`)
only: an access token is a 401 here, even one the same app issued (see `deps.app_scope`).

Webhooks are managed here and delivered by `nylas_engine.webhooks` (from `serve`).
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Query

from nylas_engine.api.deps import AppScope, app_scope, json_object
from nylas_engine.api.errors import bad_request, not_found
from nylas_engine.api.listing import list_response
from nylas_engine.api.openapi import doc, paged
from nylas_engine.api.params import check_id
from nylas_engine.api.query import AppListQuery, CountOrIdsListQuery
from nylas_engine.api.routing import SessionRoute
from nylas_engine.api.schemas import admin
from nylas_engine.api.views.account import management_account_json
from nylas_engine.api.views.apps import app_json, token_info_json, webhook_json
from nylas_engine.blank import is_blank
from nylas_engine.metadata import optional_metadata
from nylas_engine.store import auth
from nylas_engine.store import metadata as meta
from nylas_engine.store.models import Account, Webhook
from nylas_engine.store.webhooks import start_cursors

router = APIRouter(route_class=SessionRoute)

SUCCESS = {"success": True}
WEBHOOK_TRIGGERS = admin.WEBHOOK_TRIGGERS
WEBHOOK_STATES = admin.WEBHOOK_STATES


# ------------------------------------------------------------------------------ the app


@router.get("/a/{client_id}", **doc(reply=admin.Application))
def get_app(scope: AppScope = Depends(app_scope)) -> Any:
    return app_json(scope.app)


@router.put("/a/{client_id}", **doc(reply=admin.Application, body=admin.AppInput))
def update_app(
    scope: AppScope = Depends(app_scope), body: dict[str, Any] = Depends(json_object)
) -> Any:
    app = scope.app
    if "application_name" in body:
        app.name = _string(body, "application_name", 255, required=True) or ""
    if "icon_url" in body:
        app.icon_url = _string(body, "icon_url", 1024)
    if "redirect_uris" in body:
        uris = body["redirect_uris"]
        if not isinstance(uris, list) or not all(isinstance(u, str) for u in uris):
            raise bad_request("redirect_uris must be a list of strings")
        for uri in uris:
            _check_redirect_uri(uri)
        app.redirect_uris = list(dict.fromkeys(uris))
    return app_json(app)


@router.get("/a/{client_id}/ip_addresses", **doc(reply=dict[str, Any]))
def ip_addresses(scope: AppScope = Depends(app_scope)) -> Any:
    """The addresses the engine connects out from: it runs locally, so loopback."""
    return {"ip_addresses": ["127.0.0.1"], "updated_at": scope.app.created_at}


# ------------------------------------------------------------------------------ accounts


@router.get("/a/{client_id}/accounts", **doc(reply=paged(admin.AppAccount)))
def list_accounts(
    params: Annotated[AppListQuery, Query()], scope: AppScope = Depends(app_scope)
) -> Any:
    """The app's accounts; `metadata_*` filters match the metadata this app set on them."""
    stmt = auth.app_accounts(scope.app).where(
        *meta.app_account_conditions(scope.app, params.metadata())
    )
    return list_response(
        params, scope.session, stmt, lambda account, _expanded: _account_json(scope, account)
    )


@router.get("/a/{client_id}/accounts/{account_id}", **doc(reply=admin.AppAccount))
def get_account(account_id: str, scope: AppScope = Depends(app_scope)) -> Any:
    return _account_json(scope, _account(scope, account_id))


@router.put(
    "/a/{client_id}/accounts/{account_id}",
    **doc(reply=admin.AppAccount, body=admin.AppAccountInput),
)
def update_account(
    account_id: str,
    scope: AppScope = Depends(app_scope),
    body: dict[str, Any] = Depends(json_object),
) -> Any:
    """Sets this app's metadata on the account (hosted v2: the whole mapping is replaced).
    Other apps' metadata, and the operator's account settings, are untouched."""
    account = _account(scope, account_id)
    metadata = optional_metadata(body)
    if metadata is not None:
        meta.set_app_metadata(scope.session, scope.app, account, metadata)
    return _account_json(scope, account)


@router.delete("/a/{client_id}/accounts/{account_id}", **doc(reply=dict[str, Any]))
def delete_account(account_id: str, scope: AppScope = Depends(app_scope)) -> Any:
    """Disconnects the account from this app (its tokens for the app are gone); the local
    account and its mail stay, since other apps may use them."""
    auth.unlink_account(scope.session, scope.app, _account(scope, account_id))
    return SUCCESS


@router.post("/a/{client_id}/accounts/{account_id}/downgrade", **doc(reply=dict[str, Any]))
def downgrade(account_id: str, scope: AppScope = Depends(app_scope)) -> Any:
    """Cancelled accounts stop syncing and their data endpoints answer 403 (deps)."""
    account = _account(scope, account_id)
    account.billing_state = "cancelled"
    if account.sync_state == "running":
        account.sync_state = "stopped"
    return {**_account_json(scope, account), **SUCCESS}


@router.post("/a/{client_id}/accounts/{account_id}/upgrade", **doc(reply=dict[str, Any]))
def upgrade(account_id: str, scope: AppScope = Depends(app_scope)) -> Any:
    """Downgrade then upgrade is how hosted Nylas restarted a stopped account."""
    account = _account(scope, account_id)
    account.billing_state = "paid"
    if account.sync_state == "stopped":
        account.sync_state = "running"
    return {**_account_json(scope, account), **SUCCESS}


@router.post("/a/{client_id}/accounts/{account_id}/revoke-all", **doc(reply=dict[str, Any]))
def revoke_all(
    account_id: str,
    scope: AppScope = Depends(app_scope),
    body: dict[str, Any] = Depends(json_object),
) -> Any:
    keep = body.get("keep_access_token")
    if keep is not None and not isinstance(keep, str):
        raise bad_request("keep_access_token must be a string")
    auth.revoke_all(scope.session, scope.app, _account(scope, account_id), keep or None)
    return SUCCESS


@router.post(
    "/a/{client_id}/accounts/{account_id}/token-info",
    **doc(reply=dict[str, Any], body=admin.TokenInfoInput),
)
def token_info(
    account_id: str,
    scope: AppScope = Depends(app_scope),
    body: dict[str, Any] = Depends(json_object),
) -> Any:
    token = body.get("access_token")
    if not isinstance(token, str) or not token:
        raise bad_request("access_token is required")
    row = auth.app_token(scope.session, scope.app, _account(scope, account_id), token)
    if row is None:
        raise not_found("No such access token for this account and application.")
    return token_info_json(row)


def _account_json(scope: AppScope, account: Account) -> dict[str, Any]:
    metadata = meta.app_metadata(scope.session, scope.app, [account]).get(account.id, {})
    return management_account_json(account, metadata)


def _account(scope: AppScope, account_id: str) -> Account:
    check_id(account_id)
    account = auth.app_account(scope.session, scope.app, account_id)
    if account is None:
        raise not_found(f"Couldn't find account with id `{account_id}`")
    return account


# ------------------------------------------------------------------------------ webhooks


@router.get("/a/{client_id}/webhooks", **doc(reply=paged(admin.Webhook)))
def list_webhooks(
    params: Annotated[CountOrIdsListQuery, Query()], scope: AppScope = Depends(app_scope)
) -> Any:
    return list_response(
        params,
        scope.session,
        auth.app_webhooks(scope.app),
        lambda webhook, _expanded: webhook_json(webhook, scope.app),
    )


@router.post("/a/{client_id}/webhooks", **doc(reply=admin.Webhook, body=admin.WebhookCreate))
def create_webhook(
    scope: AppScope = Depends(app_scope), body: dict[str, Any] = Depends(json_object)
) -> Any:
    url = _string(body, "callback_url", 2048, required=True) or ""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise bad_request("callback_url must be an http or https URL")
    triggers = body.get("triggers")
    if not isinstance(triggers, list) or not triggers:
        raise bad_request("triggers must be a non-empty list")
    unknown = [t for t in triggers if not isinstance(t, str) or t not in WEBHOOK_TRIGGERS]
    if unknown:
        raise bad_request(f"Unknown webhook triggers: {', '.join(map(str, unknown))}")
    state = _state(body.get("state", "active"))
    webhook = auth.create_webhook(
        scope.session, scope.app, url, list(dict.fromkeys(triggers)), state
    )
    start_cursors(scope.session, webhook)
    return webhook_json(webhook, scope.app)


@router.get("/a/{client_id}/webhooks/{webhook_id}", **doc(reply=admin.Webhook))
def get_webhook(webhook_id: str, scope: AppScope = Depends(app_scope)) -> Any:
    return webhook_json(_webhook(scope, webhook_id), scope.app)


@router.put(
    "/a/{client_id}/webhooks/{webhook_id}", **doc(reply=admin.Webhook, body=admin.WebhookInput)
)
def update_webhook(
    webhook_id: str,
    scope: AppScope = Depends(app_scope),
    body: dict[str, Any] = Depends(json_object),
) -> Any:
    """Only `state` can change (docs/protocol.md §16.4); other fields are ignored."""
    webhook = _webhook(scope, webhook_id)
    if "state" in body:
        state = _state(body["state"])
        if state != webhook.state:
            webhook.state = state
            webhook.version += 1
            if state == "active":  # what happened while it was off is not sent
                start_cursors(scope.session, webhook)
    return webhook_json(webhook, scope.app)


@router.delete("/a/{client_id}/webhooks/{webhook_id}", **doc(reply=dict[str, Any]))
def delete_webhook(webhook_id: str, scope: AppScope = Depends(app_scope)) -> Any:
    auth.delete_webhook(scope.session, _webhook(scope, webhook_id))
    return SUCCESS


def _webhook(scope: AppScope, webhook_id: str) -> Webhook:
    check_id(webhook_id)
    webhook = auth.find_webhook(scope.session, scope.app, webhook_id)
    if webhook is None:
        raise not_found(f"Couldn't find webhook with id `{webhook_id}`")
    return webhook


# ------------------------------------------------------------------------------ validation


def _string(body: dict[str, Any], name: str, max_len: int, *, required: bool = False) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and is_blank(value)):
        raise bad_request(f"{name} must be a non-empty string")
    if len(value) > max_len:
        raise bad_request(f"{name} is longer than {max_len} characters")
    return value


def _state(value: Any) -> str:
    if value not in WEBHOOK_STATES:
        raise bad_request("state must be 'active' or 'inactive'")
    return str(value)


def _check_redirect_uri(uri: str) -> None:
    parts = urlsplit(uri)
    if not parts.scheme or parts.fragment or len(uri) > 2048:
        raise bad_request(f"Invalid redirect URI (absolute, no fragment): {uri}")
    if parts.scheme in ("http", "https") and not parts.netloc:
        raise bad_request(f"Invalid redirect URI (no host): {uri}")
