"""CalDAV/CardDAV settings given with native authentication (`POST /connect/authorize`).

`settings` may carry `caldav_url`, `carddav_url`, `dav_username` and `dav_password` next to
the IMAP ones; without `dav_password` the mail password is used. The URLs' hosts pass the
same address policy as mail hosts (sync/hosts.py): a caller cannot point the engine at its
own loopback or LAN unless the operator allowed it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from nylas_engine.calendar.when import InvalidInput
from nylas_engine.store.credentials import Vault
from nylas_engine.store.dav import set_dav_account
from nylas_engine.sync.hosts import MailHostPolicy


@dataclass(frozen=True)
class DavSettings:
    caldav_url: str | None
    carddav_url: str | None
    username: str | None
    password: str | None

    def __repr__(self) -> str:
        return f"DavSettings({self.caldav_url!r}, {self.carddav_url!r}, password=***)"


def read_settings(settings: dict[str, Any]) -> DavSettings | None:
    """The DAV part of native-auth settings (None: none given); `InvalidInput` if malformed."""
    values = {}
    for key in ("caldav_url", "carddav_url", "dav_username", "dav_password"):
        value = settings.get(key)
        if value is not None and (not isinstance(value, str) or len(value) > 2048):
            raise InvalidInput(f"'{key}' must be a string.")
        values[key] = value or None
    for key in ("caldav_url", "carddav_url"):
        url = values[key]
        if url is not None:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname or parts.username:
                raise InvalidInput(f"'{key}' must be an http(s) URL without credentials.")
    if values["caldav_url"] is None and values["carddav_url"] is None:
        return None
    return DavSettings(
        values["caldav_url"], values["carddav_url"], values["dav_username"], values["dav_password"]
    )


def check_hosts(policy: MailHostPolicy, dav: DavSettings) -> None:
    """`HostRefused` unless every DAV host is one the engine may connect to."""
    for url in (dav.caldav_url, dav.carddav_url):
        if url is not None:
            parts = urlsplit(url)
            port = parts.port or (443 if parts.scheme == "https" else 80)
            policy.addresses(parts.hostname or "", port, "CalDAV/CardDAV")


def store_settings(session: Session, data_dir: Path, account_id: int, dav: DavSettings) -> None:
    sealed = Vault.for_data_dir(data_dir).seal_text(dav.password) if dav.password else None
    set_dav_account(
        session,
        account_id,
        caldav_url=dav.caldav_url,
        carddav_url=dav.carddav_url,
        username=dav.username,
        sealed_password=sealed,
    )
