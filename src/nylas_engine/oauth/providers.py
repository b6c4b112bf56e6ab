"""The OAuth 2.0 providers the engine signs users in with, as the operator configured them.

Each provider has public endpoints (authorization, token, userinfo) that default to the real
provider's and can be overridden (a test server, or a proxy), the operator's registered client
(id and secret) for hosted sign-in, the scopes asked, and the mail servers its accounts use.
Everything comes from the environment, `NYLAS_ENGINE_<PROVIDER>_<SETTING>`:

    NYLAS_ENGINE_GOOGLE_CLIENT_ID, NYLAS_ENGINE_GOOGLE_CLIENT_SECRET,
    NYLAS_ENGINE_GOOGLE_AUTHORIZATION_URL, _TOKEN_URL, _USERINFO_URL, _SCOPES (space-separated),
    _IMAP (host:port), _SMTP (host:port), _SECURITY (tls|starttls|plain, for both),
    _CALENDAR, _CONTACTS (1: hosted sign-in also asks for the calendar / contacts scopes)

and the same with MICROSOFT (where _CALENDAR and _CONTACTS add nothing: see
`CALENDAR_SCOPES`). Endpoint and server settings are the operator's only: a caller of the API
never chooses where the engine sends a client secret or a refresh token.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

GOOGLE = "google"
MICROSOFT = "microsoft"
# What the API calls them (`provider` on accounts and in native auth).
API_NAMES = {GOOGLE: "gmail", MICROSOFT: "office365"}
FROM_API_NAME = {"gmail": GOOGLE, "google": GOOGLE, "office365": MICROSOFT, "microsoft": MICROSOFT}
# What the operator may add to the mail scopes (`_CALENDAR`, `_CONTACTS`), for the CalDAV and
# CardDAV access that follows the mail. Google's CalDAV and CardDAV endpoints take these.
# Microsoft 365 has no CalDAV or CardDAV (its calendars and contacts are Graph's and EWS's),
# and its token endpoint issues a token for one resource only: Graph scopes asked next to
# the Outlook IMAP/SMTP ones would break every refresh of the mail token. So none for it.
CALENDAR_SCOPES = {GOOGLE: ("https://www.googleapis.com/auth/calendar",)}
CONTACTS_SCOPES = {GOOGLE: ("https://www.googleapis.com/auth/carddav",)}
TRUE = ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Provider:
    name: str
    label: str  # "Google", shown on the sign-in button
    authorization_url: str
    token_url: str
    userinfo_url: str
    scopes: tuple[str, ...]
    imap: tuple[str, int]
    smtp: tuple[str, int]
    security: str = "tls"  # IMAP's; SMTP uses `smtp_security`
    smtp_security: str = "tls"
    client_id: str = ""
    client_secret: str = ""
    # The operator set the servers (`_IMAP`/`_SMTP`): they win over the domain's preset.
    servers_set: bool = False

    @property
    def configured(self) -> bool:
        """Whether the operator registered a client, which hosted sign-in needs."""
        return bool(self.client_id and self.client_secret)

    @property
    def api_name(self) -> str:
        return API_NAMES[self.name]

    def __repr__(self) -> str:
        return f"Provider({self.name!r}, client_id={self.client_id!r})"


DEFAULTS = {
    GOOGLE: Provider(
        name=GOOGLE,
        label="Google",
        authorization_url="https://accounts.google.com/o/oauth2/v2/auth",
        token_url="https://oauth2.googleapis.com/token",
        userinfo_url="https://openidconnect.googleapis.com/v1/userinfo",
        scopes=("openid", "email", "https://mail.google.com/"),
        imap=("imap.gmail.com", 993),
        smtp=("smtp.gmail.com", 465),
    ),
    MICROSOFT: Provider(
        name=MICROSOFT,
        label="Microsoft",
        authorization_url="https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
        token_url="https://login.microsoftonline.com/common/oauth2/v2.0/token",
        userinfo_url="https://graph.microsoft.com/oidc/userinfo",
        scopes=(
            "openid",
            "email",
            "offline_access",
            "https://outlook.office.com/IMAP.AccessAsUser.All",
            "https://outlook.office.com/SMTP.Send",
        ),
        imap=("outlook.office365.com", 993),
        smtp=("smtp.office365.com", 587),
        smtp_security="starttls",
    ),
}


def _host_port(text: str, default: tuple[str, int]) -> tuple[str, int]:
    host, _, port = text.strip().rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"not host:port: {text!r}")
    return host.strip("[]"), int(port)


def provider(name: str, environ: dict[str, str] | None = None) -> Provider:
    """The provider `name` ("google", "microsoft", or the API's "gmail", "office365") with the
    operator's settings from the environment. KeyError for another name."""
    env = os.environ if environ is None else environ
    base = DEFAULTS[FROM_API_NAME.get(name, name)]
    prefix = f"NYLAS_ENGINE_{base.name.upper()}_"

    def get(key: str) -> str:
        return env.get(prefix + key, "").strip()

    changes: dict[str, object] = {}
    for key in ("client_id", "client_secret", "authorization_url", "token_url", "userinfo_url"):
        if value := get(key.upper()):
            changes[key] = value
    scopes = tuple(get("SCOPES").split()) or base.scopes
    for key, extra in (("CALENDAR", CALENDAR_SCOPES), ("CONTACTS", CONTACTS_SCOPES)):
        if get(key).lower() in TRUE:  # ignored for a provider without them (see above)
            scopes += tuple(s for s in extra.get(base.name, ()) if s not in scopes)
    changes["scopes"] = scopes
    if imap := get("IMAP"):
        changes["imap"] = _host_port(imap, base.imap)
    if smtp := get("SMTP"):
        changes["smtp"] = _host_port(smtp, base.smtp)
    if security := get("SECURITY"):
        changes["security"] = changes["smtp_security"] = security
    changes["servers_set"] = bool(imap or smtp)
    return replace(base, **changes)  # type: ignore[arg-type]


def configured_providers() -> list[Provider]:
    """The providers hosted sign-in offers: those the operator registered a client for."""
    return [p for p in (provider(GOOGLE), provider(MICROSOFT)) if p.configured]


def account_servers(p: Provider, email: str) -> dict[str, object]:
    """Where an account signed in with `p` gets its mail: the operator's servers for the
    provider if set, else the preset of the email's domain (sync/presets.py)."""
    from nylas_engine.sync.presets import for_oauth

    if p.servers_set:
        return {
            "imap_host": p.imap[0],
            "imap_port": p.imap[1],
            "smtp_host": p.smtp[0],
            "smtp_port": p.smtp[1],
            "security": p.security,
            "smtp_security": p.smtp_security,
            "labels": False,
        }
    preset = for_oauth(p.name, email)
    return {
        "imap_host": preset.imap_host,
        "imap_port": preset.imap_port,
        "smtp_host": preset.smtp_host,
        "smtp_port": preset.smtp_port,
        "security": preset.security,
        "smtp_security": preset.smtp_security,
        "labels": preset.organization_unit == "label",
    }
