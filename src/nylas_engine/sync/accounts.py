"""Connecting a real mailbox: verify the servers, then create (or re-authorize) the account."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from nylas_engine.store.accounts import create_account, find_by_email
from nylas_engine.store.credentials import MailCredentials, Vault
from nylas_engine.store.models import Account
from nylas_engine.sync.imap import ServerSettings, verify


def connect_account(
    session: Session,
    data_dir: Path,
    settings: ServerSettings,
    credentials: MailCredentials,
    *,
    name: str = "",
    provider: str = "custom",
    login_password: bool = True,
) -> Account:
    """Log in to the servers (raising `AuthFailed`/`ServerUnreachable`), then store the account.

    An existing account with the same address gets the new settings and credentials (that is
    how a user fixes a changed password) and is set back to `running`.
    """
    verify(settings, credentials)
    sealed = Vault.for_data_dir(data_dir).seal(credentials)
    fields: dict[str, Any] = {
        "imap_host": settings.imap_host,
        "imap_port": settings.imap_port,
        "imap_username": settings.imap_username,
        "smtp_host": settings.smtp_host,
        "smtp_port": settings.smtp_port,
        "smtp_username": settings.smtp_username,
        "security": settings.security,
        "credentials": sealed,
    }
    account = find_by_email(session, settings.email)
    if account is None:
        return create_account(
            session,
            settings.email,
            name=name,
            provider=provider,
            # The same password unlocks the /oauth/authorize consent page (stored hashed).
            password=credentials.imap_password if login_password else None,
            sync_state="running",
            **fields,
        )
    for key, value in fields.items():
        setattr(account, key, value)
    if name:
        account.name = name
    account.sync_state = "running"
    account.sync_error = None
    session.flush()
    return account
