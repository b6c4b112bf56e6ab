"""Account JSON (docs/protocol.md §5) and the management shape of /a/{client_id}/accounts
(§16.3)."""

from __future__ import annotations

from typing import Any

from nylas_engine.store.models import Account


def account_json(account: Account, expanded: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": account.public_id,
        "object": "account",
        "account_id": account.public_id,
        "email_address": account.email_address,
        "name": account.name,
        "provider": account.provider,
        "organization_unit": account.organization_unit,
        "sync_state": account.sync_state,
        "linked_at": account.created_at,
        "billing_state": account.billing_state,
        "trial": account.trial,
    }
    if account.sync_progress:
        data["sync_progress"] = account.sync_progress
    if expanded and account.imap_host:
        data["server_settings"] = {
            "imap_host": account.imap_host,
            "imap_port": account.imap_port,
            "smtp_host": account.smtp_host,
            "smtp_port": account.smtp_port,
            "ssl_required": account.security != "plain",
        }
    return data


def management_account_json(account: Account, metadata: dict[str, str]) -> dict[str, Any]:
    """`metadata` is the one the asking app set (store.metadata.app_metadata)."""
    return {
        "id": account.public_id,
        "object": "account",
        "account_id": account.public_id,
        "namespace_id": account.public_id,
        "email": account.email_address,
        "provider": account.provider,
        "sync_state": account.sync_state,
        "billing_state": account.billing_state,
        "trial": account.trial,
        "authentication_type": "password",
        "metadata": metadata,
    }
