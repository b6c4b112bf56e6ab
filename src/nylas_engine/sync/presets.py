"""Mail server settings of the large providers, found from an email address's domain, so
that connecting `me@gmail.com` needs no host names.

A preset gives the IMAP and SMTP hosts, ports and security, the folder model (Gmail's
folders are labels), and the OAuth provider whose sign-in works there (`oauth`), if any.
Explicit settings always win over a preset (`accounts add --imap-host`, or `settings` in
native auth). Google Workspace and Microsoft 365 domains are custom domains: `lookup` finds
them only when asked to look at the domain's MX records (`mx=`: a resolver function, since
the engine has no DNS library; the CLI passes none, so use `--oauth google` or host flags).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Preset:
    name: str  # the API's `provider`: gmail, office365, icloud, yahoo, fastmail, ...
    imap_host: str
    smtp_host: str
    imap_port: int = 993
    smtp_port: int = 465
    security: str = "tls"  # IMAP's
    smtp_security: str = "tls"
    organization_unit: str = "folder"
    oauth: str | None = None  # "google" | "microsoft"
    app_password: bool = False  # passwords work only as app passwords (2-step verification)


GMAIL = Preset(
    "gmail", "imap.gmail.com", "smtp.gmail.com", organization_unit="label", oauth="google",
    app_password=True,
)  # fmt: skip
MICROSOFT = Preset(
    "office365",
    "outlook.office365.com",
    "smtp.office365.com",
    smtp_port=587,
    smtp_security="starttls",
    oauth="microsoft",
)
OUTLOOK = Preset(
    "outlook",
    "outlook.office365.com",
    "smtp-mail.outlook.com",
    smtp_port=587,
    smtp_security="starttls",
    oauth="microsoft",
)
ICLOUD = Preset(
    "icloud", "imap.mail.me.com", "smtp.mail.me.com", smtp_port=587, smtp_security="starttls",
    app_password=True,
)  # fmt: skip
YAHOO = Preset("yahoo", "imap.mail.yahoo.com", "smtp.mail.yahoo.com", app_password=True)
AOL = Preset("aol", "imap.aol.com", "smtp.aol.com", app_password=True)
FASTMAIL = Preset("fastmail", "imap.fastmail.com", "smtp.fastmail.com", app_password=True)
ZOHO = Preset("zoho", "imap.zoho.com", "smtp.zoho.com")
GMX = Preset("gmx", "imap.gmx.com", "mail.gmx.com", smtp_port=587, smtp_security="starttls")

BY_DOMAIN: dict[str, Preset] = {
    **dict.fromkeys(("gmail.com", "googlemail.com"), GMAIL),
    **dict.fromkeys(
        ("outlook.com", "hotmail.com", "live.com", "msn.com", "hotmail.co.uk", "outlook.fr"),
        OUTLOOK,
    ),
    **dict.fromkeys(("icloud.com", "me.com", "mac.com"), ICLOUD),
    **dict.fromkeys(("yahoo.com", "ymail.com", "rocketmail.com", "yahoo.co.uk", "yahoo.fr"), YAHOO),
    **dict.fromkeys(("aol.com", "aim.com"), AOL),
    **dict.fromkeys(("fastmail.com", "fastmail.fm", "messagingengine.com"), FASTMAIL),
    **dict.fromkeys(("zoho.com", "zohomail.com"), ZOHO),
    **dict.fromkeys(("gmx.com", "gmx.net", "gmx.de"), GMX),
}
# Custom domains hosted by a provider, told by where their mail goes (MX host suffixes).
BY_MX: tuple[tuple[str, Preset], ...] = (
    ("google.com", GMAIL),
    ("googlemail.com", GMAIL),
    ("outlook.com", MICROSOFT),  # *.mail.protection.outlook.com
    ("messagingengine.com", FASTMAIL),
    ("zoho.com", ZOHO),
)
BY_OAUTH = {"google": GMAIL, "microsoft": MICROSOFT}


def domain_of(email: str) -> str:
    return email.rpartition("@")[2].strip().rstrip(".").lower()


def lookup(email: str, mx: Callable[[str], Iterable[str]] | None = None) -> Preset | None:
    """The preset for `email`'s domain; else, with `mx` (domain -> MX host names), the one
    its mail servers point to; else None."""
    domain = domain_of(email)
    if found := BY_DOMAIN.get(domain):
        return found
    if mx is None or not domain:
        return None
    for host in mx(domain):
        name = host.strip().rstrip(".").lower()
        for suffix, preset in BY_MX:
            if name == suffix or name.endswith("." + suffix):
                return preset
    return None


def for_oauth(provider: str, email: str) -> Preset:
    """The servers of an account signed in with `provider`: its domain's preset when that
    is the provider's (outlook.com is Microsoft's, with other SMTP), else the provider's
    (a Google Workspace or Microsoft 365 custom domain)."""
    found = BY_DOMAIN.get(domain_of(email))
    if found is not None and found.oauth == provider:
        return found
    return BY_OAUTH[provider]
