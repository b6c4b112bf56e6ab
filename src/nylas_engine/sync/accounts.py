"""Connecting a real mailbox: verify the servers, then create (or re-authorize) the account."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from nylas_engine.store.accounts import create_account, find_by_email
from nylas_engine.store.credentials import MailCredentials, Vault
from nylas_engine.store.models import Account
from nylas_engine.sync.imap import ServerSettings, verify

# Gmail's IMAP extensions: its folders are labels (a message with two labels is a copy in two
# folders, and All Mail holds every message).
GMAIL_CAPABILITY = b"X-GM-EXT-1"


def organization_unit(capabilities: Iterable[bytes | str], labels: bool = False) -> str:
    """`label` when asked for (`accounts add --labels`) or when the server is Gmail, else
    `folder`."""
    names = {(c.encode() if isinstance(c, str) else bytes(c)).upper() for c in capabilities}
    return "label" if labels or GMAIL_CAPABILITY in names else "folder"


def connect_account(
    session: Session,
    data_dir: Path,
    settings: ServerSettings,
    credentials: MailCredentials,
    *,
    name: str = "",
    provider: str = "custom",
    login_password: bool = True,
    labels: bool = False,
) -> Account:
    """Log in to the servers (raising `AuthFailed`/`ServerUnreachable`), then store the account.

    A new account is a label account (`organization_unit` "label": labels instead of folders
    in the API, written back as copies in folders) with `labels`, or when the server is
    Gmail; else a folder account. An existing account with the same address keeps its kind,
    and gets the new settings and credentials (that is how a user fixes a changed password)
    and is set back to `running`.
    """
    capabilities = verify(settings, credentials)
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
            organization_unit=organization_unit(capabilities, labels),
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
