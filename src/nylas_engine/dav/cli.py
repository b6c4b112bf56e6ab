"""`accounts add` options for calendars and address books on CalDAV/CardDAV servers."""

from __future__ import annotations

import argparse
from typing import Any

from nylas_engine.cli_secrets import read_secret


def add_dav_arguments(p: argparse.ArgumentParser) -> None:
    dav = p.add_argument_group("calendars and contacts (CalDAV/CardDAV)")
    dav.add_argument("--caldav-url", help="CalDAV server, principal or calendar home URL")
    dav.add_argument("--carddav-url", help="CardDAV server, principal or address book home URL")
    dav.add_argument(
        "--dav-discover",
        action="store_true",
        help="find both: a provider preset (iCloud, Fastmail, mailbox.org), else "
        "https://<email domain>/.well-known/caldav and /carddav (RFC 6764)",
    )
    dav.add_argument("--dav-username", help="DAV login (default: the mail login)")
    dav.add_argument("--dav-password-env", help="env var holding the DAV password")
    dav.add_argument("--dav-password-file", help="file holding the DAV password (first line)")


def wants_dav(args: argparse.Namespace) -> bool:
    return bool(args.caldav_url or args.carddav_url or args.dav_discover)


def dav_password(args: argparse.Namespace) -> str | None:
    return read_secret(args.dav_password_env, args.dav_password_file, "dav-password")


def configure_dav(
    ctx: Any, account_public_id: str, args: argparse.Namespace, fallback: str | None
) -> None:
    """Store the account's DAV endpoints; the password sealed (`fallback`: the login password
    of an account without a mailbox, whose mail password is not stored)."""
    from nylas_engine.dav.discovery import well_known  # httpx: not for every command
    from nylas_engine.store.accounts import find_by_public_id
    from nylas_engine.store.credentials import Vault
    from nylas_engine.store.dav import set_dav_account

    password = dav_password(args) or fallback
    with ctx.db.session() as session:
        account = find_by_public_id(session, account_public_id)
        assert account is not None
        email, has_credentials = account.email_address, bool(account.credentials)
    if password is None and not has_credentials:
        raise SystemExit("give the DAV password with --dav-password-env or --dav-password-file")
    caldav, carddav = args.caldav_url, args.carddav_url
    if args.dav_discover:  # over the network: with no transaction open meanwhile
        caldav = caldav or well_known(email, "calendar")
        carddav = carddav or well_known(email, "addressbook")
    with ctx.db.session() as session:
        account = find_by_public_id(session, account_public_id)
        assert account is not None
        set_dav_account(
            session,
            account.id,
            caldav_url=caldav,
            carddav_url=carddav,
            username=args.dav_username,
            sealed_password=(
                Vault.for_data_dir(ctx.settings.data_dir).seal_text(password) if password else None
            ),
        )
