"""Connecting a real mailbox: verify the servers, then create (or re-authorize) the account.

Who may change an existing account's servers (issue 10: an unauthenticated caller could
re-point a victim's account at servers of their own, then read and send its mail):

* anyone who can log in may create an account, or re-authenticate an existing one (same
  address) on the servers it already has: same IMAP host, port and security, same SMTP host
  and port, with new credentials that log in there;
* moving an existing account to other servers takes an app the account is linked to (its
  client_secret, checked by the API) and new credentials that log in to the current
  servers too, so only someone who controls the mailbox can move it; a local account (no
  servers) cannot be moved that way;
* the operator (`nylas-engine accounts add`) may move any account (`allow_move`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from nylas_engine.store.accounts import create_account, find_by_email
from nylas_engine.store.credentials import MailCredentials, Vault
from nylas_engine.store.db import Database
from nylas_engine.store.models import Account
from nylas_engine.sync import gmail
from nylas_engine.sync.dial import Deadline
from nylas_engine.sync.imap import ServerSettings, default_smtp_port, verify


def organization_unit(capabilities: Iterable[bytes | str], labels: bool = False) -> str:
    """`label` when asked for (`accounts add --labels`) or when the server is Gmail (its
    IMAP extensions, sync/gmail.py: its folders are labels), else `folder`."""
    return "label" if labels or gmail.offered(capabilities) else "folder"


class MoveRefused(Exception):
    """Connecting would move an existing account to other servers, which the caller may not."""


MOVE_NEEDS_PROOF = (
    "An account with this email address is connected to other mail servers. Re-authenticate "
    "it on the servers it has; moving it to other servers needs the client_secret of an app "
    "it is linked to and credentials that also log in to its current servers (or the "
    "operator: nylas-engine accounts add)."
)
NO_SERVERS = (
    "An account with this email address exists without mail servers to verify against; "
    "only the operator can connect it (nylas-engine accounts add)."
)
CHANGED = "The account's mail servers changed while the new ones were being checked; try again."


def _server_key(settings: ServerSettings) -> tuple[object, ...]:
    smtp_port = settings.smtp_port or default_smtp_port(settings.smtp_mode)
    return (
        settings.imap_host.strip().lower(),
        settings.imap_port,
        settings.security,
        (settings.smtp_host or "").strip().lower(),
        smtp_port if settings.smtp_host else None,
    )


def same_servers(a: ServerSettings, b: ServerSettings) -> bool:
    """The same IMAP host, port and security, and the same SMTP host and port."""
    return _server_key(a) == _server_key(b)


def current_servers(account: Account) -> ServerSettings | None:
    """Where the account's mail lives now; None for a local account (no IMAP server)."""
    return ServerSettings.from_account(account) if account.imap_host else None


@dataclass(frozen=True)
class Reconnection:
    """What connecting `settings` would do: create an account, re-authenticate the one with
    that address on its servers, or move it to other servers (`moves`)."""

    settings: ServerSettings
    account_id: str | None  # the existing account's public id
    current: ServerSettings | None  # its servers

    @property
    def moves(self) -> bool:
        if self.account_id is None:
            return False
        return self.current is None or not same_servers(self.current, self.settings)

    def servers_to_verify(self, *, move_allowed: bool) -> list[ServerSettings]:
        """The servers the new credentials must log in to before they are stored, the new
        ones last: when the account moves, its current ones come first (so that only someone
        who controls the mailbox moves it, and the new servers are contacted only then).
        `MoveRefused` when it may not move."""
        if not self.moves:
            return [self.settings]
        if not move_allowed:
            raise MoveRefused(MOVE_NEEDS_PROOF)
        if self.current is None:
            raise MoveRefused(NO_SERVERS)
        old = replace(
            self.current,
            imap_username=self.settings.imap_username,
            smtp_username=self.settings.smtp_username,
        )
        return [old, self.settings]


def plan_connection(session: Session, settings: ServerSettings) -> Reconnection:
    account = find_by_email(session, settings.email)
    if account is None:
        return Reconnection(settings, None, None)
    return Reconnection(settings, account.public_id, current_servers(account))


def verify_servers(
    servers: list[ServerSettings], credentials: MailCredentials, within: float
) -> set[bytes]:
    """Log in to each of `servers` in turn with `credentials`, all within `within` seconds
    (raising `AuthFailed`/`ServerUnreachable` at the first that fails); the last one's IMAP
    capabilities."""
    with Deadline(within) as deadline:
        found = [verify(server, credentials, deadline) for server in servers]
    return found[-1]


def connect_account(
    db: Database,
    data_dir: Path,
    settings: ServerSettings,
    credentials: MailCredentials,
    *,
    allow_move: bool,
    name: str = "",
    provider: str = "custom",
    login_password: bool = True,
    labels: bool = False,
) -> Account:
    """Log in to the servers (raising `AuthFailed`/`ServerUnreachable`), then store the account
    (`store_account`), with no session open while talking to the servers. `allow_move` (the
    operator, on the CLI): an existing account may move to other servers without a login
    to its current ones; without it, a move is `MoveRefused`."""
    verified = [settings]
    if not allow_move:
        with db.session() as session:
            verified = plan_connection(session, settings).servers_to_verify(move_allowed=False)
    capabilities = verify(settings, credentials)
    with db.session() as session:
        return store_account(
            session,
            data_dir,
            settings,
            credentials,
            capabilities,
            verified=verified,
            operator=allow_move,
            name=name,
            provider=provider,
            login_password=login_password,
            labels=labels,
        )


def store_account(
    session: Session,
    data_dir: Path,
    settings: ServerSettings,
    credentials: MailCredentials,
    capabilities: Iterable[bytes],
    *,
    verified: list[ServerSettings],
    operator: bool = False,
    name: str = "",
    provider: str = "custom",
    login_password: bool = True,
    labels: bool = False,
    hosts_checked: bool = False,
) -> Account:
    """Create the account, or update the one with that address, with the settings and
    credentials `verify` accepted (for the servers in `verified`).

    A new account is a label account (`organization_unit` "label": labels instead of folders
    in the API, written back as copies in folders) with `labels`, or when the server is
    Gmail; else a folder account. An existing account keeps its kind, and gets the new
    settings and credentials (that is how a user fixes a changed password) and is set back
    to `running`; unless the `operator` says so, only if its current servers are among the
    `verified` ones (they may have changed since the plan: `MoveRefused`). `hosts_checked`:
    the hosts are a caller's choice, to be checked on every connection (sync/hosts.py).
    """
    if credentials.oauth is not None:
        # Checking the servers refreshed the token: a provider that rotates refresh tokens
        # has spent the one given, so the newer one is what the account keeps.
        from nylas_engine.oauth.tokens import TOKENS

        credentials = replace(credentials, oauth=TOKENS.current(credentials.oauth))
    sealed = Vault.for_data_dir(data_dir).seal(credentials)
    fields: dict[str, Any] = {
        "imap_host": settings.imap_host,
        "imap_port": settings.imap_port,
        "imap_username": settings.imap_username,
        "smtp_host": settings.smtp_host,
        "smtp_port": settings.smtp_port,
        "smtp_username": settings.smtp_username,
        "security": settings.security,
        "smtp_security": settings.smtp_security,
        "credentials": sealed,
        "hosts_checked": hosts_checked,
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
            password=credentials.imap_password
            if login_password and credentials.imap_password
            else None,
            sync_state="running",
            **fields,
        )
    current = current_servers(account)
    if not operator and (current is None or not any(same_servers(current, v) for v in verified)):
        raise MoveRefused(CHANGED)
    for key, value in fields.items():
        setattr(account, key, value)
    if name:
        account.name = name
    account.sync_state = "running"
    account.sync_error = None
    session.flush()
    return account


def store_rotated(db: Database, data_dir: Path, account_id: int, used: MailCredentials) -> None:
    """Store the newer refresh token the provider gave for `used` (the credentials loaded
    from the account), if it rotated it (oauth/tokens.py), unless the account's credentials
    changed meanwhile (a reconnection wins)."""
    from nylas_engine.oauth.tokens import TOKENS

    if used.oauth is None:
        return
    newer = TOKENS.current(used.oauth)
    if newer == used.oauth:
        return
    vault = Vault.for_data_dir(data_dir)
    with db.session() as session:
        account = session.get(Account, account_id)
        if account is None or not account.credentials:
            return
        if vault.open(account.credentials).oauth != used.oauth:
            return
        account.credentials = vault.seal(replace(used, oauth=newer))
