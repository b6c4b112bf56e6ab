"""Mail server passwords, OAuth 2.0 refresh tokens and apps' client secrets, encrypted at
rest (Fernet: AES-128-CBC + HMAC-SHA256).

The key comes from `$NYLAS_ENGINE_KEY` (a Fernet key, or any passphrase, which is stretched
with scrypt), else from `secret.key` in the data directory, created on first use with mode
0600. The database alone is therefore not enough to read anyone's mail password.

Passwords only ever leave this module inside a `MailCredentials`, whose repr hides them, so
an accidental log line or traceback does not print them. The API never returns them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nylas_engine.store.private import private_dir

if TYPE_CHECKING:  # imported where a key is used: a sync's worker process only unpickles
    # MailCredentials, and the library costs it ~9 MiB
    from cryptography.fernet import Fernet

KEY_ENV = "NYLAS_ENGINE_KEY"
KEY_FILE = "secret.key"


class CredentialsError(Exception):
    """Stored credentials cannot be decrypted (another key, or a damaged blob)."""


@dataclass(frozen=True)
class OAuthGrant:
    """What renews an OAuth 2.0 account's access tokens (oauth/tokens.py): the provider's
    token endpoint, the client the refresh token was issued to, and the refresh token. The
    secrets stay out of its repr."""

    provider: str  # "google" | "microsoft"
    token_url: str
    client_id: str
    client_secret: str
    refresh_token: str
    scope: str = ""

    def with_refresh_token(self, refresh_token: str) -> OAuthGrant:
        return replace(self, refresh_token=refresh_token)

    def to_json(self) -> dict[str, str]:
        return asdict(self)

    def __repr__(self) -> str:
        return f"OAuthGrant(provider={self.provider!r}, client_id={self.client_id!r}, ***)"

    __str__ = __repr__


@dataclass(frozen=True)
class MailCredentials:
    """A password login (`imap_password`, `smtp_password`), or an OAuth 2.0 one (`oauth`,
    with an empty password): IMAP and SMTP then log in with XOAUTH2 / OAUTHBEARER."""

    imap_password: str
    smtp_password: str | None = None
    oauth: OAuthGrant | None = None
    # An access token already had for `oauth`, handed to the worker processes of a long
    # fetch so that they do not refresh on their own. Never sealed.
    access_token: str | None = None

    @property
    def smtp(self) -> str:
        """The SMTP password: its own if one was given, else the IMAP one."""
        return self.smtp_password if self.smtp_password is not None else self.imap_password

    def __repr__(self) -> str:
        kind = f", oauth={self.oauth!r}" if self.oauth is not None else ""
        return f"MailCredentials(imap_password=***, smtp_password=***{kind})"

    __str__ = __repr__


def _fernet_from_env(value: str) -> Fernet:
    from cryptography.fernet import Fernet

    try:
        return Fernet(value.encode())
    except ValueError:
        # Not a Fernet key: treat it as a passphrase. The salt is fixed because the key must be
        # the same on every start; a passphrase is expected to be long and random anyway.
        raw = hashlib.scrypt(value.encode(), salt=b"nylas-engine-credentials", n=2**14, r=8, p=1)
        return Fernet(base64.urlsafe_b64encode(raw[:32]))


def _key_file(data_dir: Path) -> bytes:
    path = data_dir / KEY_FILE
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    from cryptography.fernet import Fernet

    private_dir(data_dir)
    key = Fernet.generate_key()
    try:
        # O_EXCL: two processes starting at once must not both write a key.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as f:
        f.write(key + b"\n")
    return key


class Vault:
    """Seals and opens `MailCredentials` with one key."""

    def __init__(self, fernet: Fernet) -> None:
        self._fernet = fernet

    @classmethod
    def for_data_dir(cls, data_dir: Path) -> Vault:
        if value := os.environ.get(KEY_ENV):
            return cls(_fernet_from_env(value))
        from cryptography.fernet import Fernet

        return cls(Fernet(_key_file(data_dir)))

    def seal(self, credentials: MailCredentials) -> bytes:
        plain: dict[str, Any] = {"imap_password": credentials.imap_password}
        if credentials.smtp_password is not None:
            plain["smtp_password"] = credentials.smtp_password
        if credentials.oauth is not None:
            plain["oauth"] = credentials.oauth.to_json()
        return self._fernet.encrypt(json.dumps(plain).encode())

    def open(self, sealed: bytes) -> MailCredentials:
        try:
            plain = json.loads(self._decrypt(sealed, "mail credentials"))
        except ValueError as exc:
            raise CredentialsError("the stored mail credentials are damaged") from exc
        grant = plain.get("oauth")
        return MailCredentials(
            plain["imap_password"],
            plain.get("smtp_password"),
            OAuthGrant(**grant) if isinstance(grant, dict) else None,
        )

    def seal_text(self, secret: str) -> bytes:
        """Any other secret the engine must be able to read back (an app's client secret)."""
        return self._fernet.encrypt(secret.encode())

    def open_text(self, sealed: bytes, what: str = "secret") -> str:
        return self._decrypt(sealed, what).decode()

    def _decrypt(self, sealed: bytes, what: str) -> bytes:
        from cryptography.fernet import InvalidToken

        try:
            return self._fernet.decrypt(sealed)
        except InvalidToken as exc:
            raise CredentialsError(
                f"cannot decrypt the stored {what}: the engine key "
                f"(${KEY_ENV} or {KEY_FILE} in the data directory) is not the one it was "
                "saved with"
            ) from exc

    def __repr__(self) -> str:
        return "Vault(***)"


def load(data_dir: Path, account: Any) -> MailCredentials | None:
    """The decrypted passwords of an account that has stored ones (`CredentialsError` if the
    key does not fit). `data_dir` is the engine's (`ctx.settings.data_dir`)."""
    sealed = getattr(account, "credentials", None)
    if not sealed:
        return None
    return Vault.for_data_dir(data_dir).open(sealed)
