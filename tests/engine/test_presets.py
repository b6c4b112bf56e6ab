"""Provider presets (sync/presets.py): the servers of the large providers from an address."""

from __future__ import annotations

from pathlib import Path

import pytest

from nylas.testing import LocalEngine
from nylas_engine.sync import presets

TABLE = [
    # email, provider, "IMAP host:port/security SMTP host:port/security", model, OAuth
    (
        "me@gmail.com",
        "gmail",
        "imap.gmail.com:993/tls smtp.gmail.com:465/tls",
        "label",
        "google",
    ),
    (
        "Me@GoogleMail.com",
        "gmail",
        "imap.gmail.com:993/tls smtp.gmail.com:465/tls",
        "label",
        "google",
    ),
    (
        "me@outlook.com",
        "outlook",
        "outlook.office365.com:993/tls smtp-mail.outlook.com:587/starttls",
        "folder",
        "microsoft",
    ),
    (
        "me@hotmail.com",
        "outlook",
        "outlook.office365.com:993/tls smtp-mail.outlook.com:587/starttls",
        "folder",
        "microsoft",
    ),
    (
        "me@icloud.com",
        "icloud",
        "imap.mail.me.com:993/tls smtp.mail.me.com:587/starttls",
        "folder",
        None,
    ),
    (
        "me@me.com",
        "icloud",
        "imap.mail.me.com:993/tls smtp.mail.me.com:587/starttls",
        "folder",
        None,
    ),
    (
        "me@yahoo.com",
        "yahoo",
        "imap.mail.yahoo.com:993/tls smtp.mail.yahoo.com:465/tls",
        "folder",
        None,
    ),
    (
        "me@aol.com",
        "aol",
        "imap.aol.com:993/tls smtp.aol.com:465/tls",
        "folder",
        None,
    ),
    (
        "me@fastmail.com",
        "fastmail",
        "imap.fastmail.com:993/tls smtp.fastmail.com:465/tls",
        "folder",
        None,
    ),
    (
        "me@zohomail.com",
        "zoho",
        "imap.zoho.com:993/tls smtp.zoho.com:465/tls",
        "folder",
        None,
    ),
    (
        "me@gmx.net",
        "gmx",
        "imap.gmx.com:993/tls mail.gmx.com:587/starttls",
        "folder",
        None,
    ),
]


@pytest.mark.parametrize(("email", "name", "servers", "unit", "oauth"), TABLE)
def test_each_provider_by_domain(
    email: str, name: str, servers: str, unit: str, oauth: str | None
) -> None:
    imap, smtp = servers.split()
    preset = presets.lookup(email)
    assert preset is not None
    assert preset.name == name
    assert f"{preset.imap_host}:{preset.imap_port}/{preset.security}" == imap
    assert f"{preset.smtp_host}:{preset.smtp_port}/{preset.smtp_security}" == smtp
    assert preset.organization_unit == unit
    assert preset.oauth == oauth


def test_unknown_domains_have_no_preset() -> None:
    assert presets.lookup("me@example.com") is None
    assert presets.lookup("not an address") is None


def test_custom_domains_by_their_mx_records() -> None:
    mx = {
        "workspace.example": ["aspmx.l.google.com.", "alt1.aspmx.l.google.com"],
        "m365.example": ["m365-example.mail.protection.outlook.com"],
        "own.example": ["mx.own.example"],
    }
    assert presets.lookup("a@workspace.example", mx=mx.__getitem__) == presets.GMAIL
    assert presets.lookup("a@m365.example", mx=mx.__getitem__) == presets.MICROSOFT
    assert presets.lookup("a@own.example", mx=mx.__getitem__) is None
    # The domain table wins without asking DNS.
    assert presets.lookup("a@gmail.com", mx=lambda _: ["mx.elsewhere"]) == presets.GMAIL


def test_oauth_accounts_use_their_providers_servers() -> None:
    assert presets.for_oauth("google", "me@gmail.com") == presets.GMAIL
    assert presets.for_oauth("google", "me@workspace.example") == presets.GMAIL
    assert presets.for_oauth("microsoft", "me@outlook.com") == presets.OUTLOOK
    assert presets.for_oauth("microsoft", "me@contoso.example") == presets.MICROSOFT


def test_accounts_add_needs_no_host_flags_for_a_known_provider(tmp_path: Path) -> None:
    """The preset's server is the one contacted (no Gmail is reachable from the tests, so
    the login fails, naming it); explicit flags still win."""
    engine = LocalEngine(tmp_path, env={"APP_PASSWORD": "app-password"})
    base = ["accounts", "add", "--email", "me@gmail.com", "--password-env", "APP_PASSWORD"]
    with pytest.raises(RuntimeError, match=r"IMAP server imap\.gmail\.com:993"):
        engine.cli(*base)
    with pytest.raises(RuntimeError, match=r"IMAP server 127\.0\.0\.1:1\b"):
        engine.cli(*base, "--imap-host", "127.0.0.1", "--imap-port", "1", "--plain")
    # An address without a preset stays a local account, as before.
    local = engine.cli("accounts", "add", "--email", "me@example.com", "--json")
    assert "me@example.com" in local
