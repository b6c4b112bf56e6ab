"""JSON of the application-level endpoints (docs/protocol.md §16.3, §16.4)."""

from __future__ import annotations

from typing import Any

from nylas_engine.store.models import AccessToken, App, Webhook


def app_json(app: App) -> dict[str, Any]:
    return {
        "application_name": app.name,
        "icon_url": app.icon_url,
        "redirect_uris": list(app.redirect_uris or []),
    }


def token_info_json(token: AccessToken) -> dict[str, Any]:
    return {
        "created_at": token.created_at,
        "updated_at": token.updated_at,
        "scopes": token.scopes,
        "state": "invalid" if token.revoked_at is not None else "valid",
    }


def webhook_json(webhook: Webhook, app: App) -> dict[str, Any]:
    return {
        "id": webhook.public_id,
        "application_id": app.client_id,
        "callback_url": webhook.callback_url,
        "state": webhook.state,
        "triggers": list(webhook.triggers or []),
        "version": webhook.version,
    }
