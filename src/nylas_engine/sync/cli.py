"""The IMAP side of the CLI: `accounts add --imap-host ...` and `nylas-engine sync`.

Imports of the sync machinery stay inside the commands: the parser is built for every CLI
call and should not pay for imapclient."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from typing import Any

from nylas_engine.cli_secrets import read_secret


def add_imap_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `accounts add` for a real mailbox (the local-account options stay as they are)."""
    p.add_argument("--imap-host", help="IMAP server: makes this a synced account")
    p.add_argument("--imap-port", type=int, help="default 993 with --tls, else 143")
    p.add_argument("--username", help="IMAP (and SMTP) login, default: the email address")
    p.add_argument("--password-file", help="file holding the password (first line)")
    p.add_argument("--smtp-password-env", help="env var with the SMTP password, if different")
    p.add_argument(
        "--oauth",
        choices=["google", "microsoft"],
        help="sign in with the provider (OAuth 2.0, XOAUTH2): opens a browser sign-in on a "
        "loopback address unless --refresh-token-env is given",
    )
    p.add_argument(
        "--refresh-token-env",
        help="env var holding a refresh token issued to the operator's OAuth client",
    )
    p.add_argument(
        "--labels",
        action="store_true",
        help="the server's folders are labels (a message in two folders has two labels); "
        "automatic for Gmail",
    )
    security = p.add_mutually_exclusive_group()
    for mode, text in (
        ("tls", "implicit TLS (default)"),
        ("starttls", "STARTTLS"),
        ("plain", "no encryption"),
    ):
        security.add_argument(
            f"--{mode}", dest="security", action="store_const", const=mode, help=text
        )


def read_password(args: argparse.Namespace) -> str | None:
    return read_secret(args.password_env, args.password_file, "password")


def cmd_accounts_add_imap(args: argparse.Namespace, ctx: Any) -> dict[str, Any]:
    """Verify the servers, then create the account; exits non-zero with the reason if not."""
    from nylas_engine.store.credentials import MailCredentials
    from nylas_engine.sync.accounts import connect_account
    from nylas_engine.sync.imap import (
        ServerSettings,
        SyncError,
        default_imap_port,
        default_smtp_port,
    )

    password: str | None = ""
    if args.oauth:
        credentials, labels = _oauth_credentials(args)
    else:
        password = read_password(args)
        labels = False
    if password is None:
        raise SystemExit(
            "an IMAP account needs a password: --password-env VAR or --password-file F"
        )
    smtp_password = read_secret(args.smtp_password_env, None, "smtp-password")
    preset = None if args.imap_host else _preset(args)
    security = args.security or (preset.security if preset else "tls")
    smtp_security = None
    imap_host, smtp_host = args.imap_host, args.smtp_host
    imap_port, smtp_port = args.imap_port, args.smtp_port
    if preset is not None:  # explicit flags win over the preset's values
        imap_host, imap_port = preset.imap_host, imap_port or preset.imap_port
        smtp_host = smtp_host or preset.smtp_host
        smtp_port = smtp_port or (preset.smtp_port if smtp_host == preset.smtp_host else None)
        if not args.security and smtp_host == preset.smtp_host:
            smtp_security = preset.smtp_security
        labels = labels or preset.organization_unit == "label"
    settings = ServerSettings(
        email=args.email,
        imap_host=imap_host,
        imap_port=imap_port or default_imap_port(security),
        imap_username=args.username or args.email,
        smtp_host=smtp_host,
        smtp_port=(smtp_port or default_smtp_port(smtp_security or security))
        if smtp_host
        else None,
        smtp_username=args.smtp_username or args.username or args.email,
        security=security,
        smtp_security=smtp_security if smtp_security != security else None,
    )
    if args.oauth:
        credentials = MailCredentials("", None, credentials.oauth)
    else:
        credentials = MailCredentials(password, smtp_password)
    try:
        account = connect_account(
            ctx.db,
            ctx.settings.data_dir,
            settings,
            credentials,
            allow_move=True,  # the operator may move an account to other servers
            name=args.name or "",
            provider=_provider_name(args, preset),
            labels=labels or args.labels or args.organization_unit == "label",
        )
        return {
            "id": account.public_id,
            "email_address": account.email_address,
            "organization_unit": account.organization_unit,
            "sync_state": account.sync_state,
        }
    except SyncError as exc:
        raise SystemExit(f"error: {exc}") from None


def _preset(args: argparse.Namespace) -> Any:
    """The servers of the email's provider (sync/presets.py), or those of the `--oauth`
    provider (a Google Workspace or Microsoft 365 custom domain); SystemExit when there are
    none and no --imap-host."""
    from nylas_engine.sync import presets

    if args.oauth:
        from nylas_engine.oauth.providers import provider

        p = provider(args.oauth)
        if p.servers_set:  # the operator's servers for the provider
            return presets.Preset(
                p.api_name, p.imap[0], p.smtp[0], p.imap[1], p.smtp[1], p.security,
                p.smtp_security, "folder", p.name,
            )  # fmt: skip
        return presets.for_oauth(p.name, args.email)
    found = presets.lookup(args.email)
    if found is None:
        raise SystemExit(f"no preset for {args.email}: give --imap-host (and --smtp-host)")
    return found


def _provider_name(args: argparse.Namespace, preset: Any) -> str:
    if args.provider != "custom" or preset is None:
        return str(args.provider)
    return str(preset.name)


def _oauth_credentials(args: argparse.Namespace) -> tuple[Any, bool]:
    """An OAuth grant for the operator's client of `--oauth`: from --refresh-token-env, or
    by signing in in a browser (oauth/loopback.py)."""
    from nylas_engine.oauth.providers import provider
    from nylas_engine.store.credentials import MailCredentials, OAuthGrant

    p = provider(args.oauth)
    if not p.configured:
        prefix = f"NYLAS_ENGINE_{p.name.upper()}_"
        raise SystemExit(f"set {prefix}CLIENT_ID and {prefix}CLIENT_SECRET (the OAuth client)")
    if args.refresh_token_env:
        token = os.environ.get(args.refresh_token_env)
        if not token:
            raise SystemExit(f"the environment variable {args.refresh_token_env} is not set")
        grant = OAuthGrant(p.name, p.token_url, p.client_id, p.client_secret, token)
    else:
        from nylas_engine.oauth.loopback import sign_in

        signed_in = sign_in(p, args.email)
        if signed_in.email != args.email.strip().lower():
            raise SystemExit(f"signed in as {signed_in.email}, not {args.email}")
        grant = signed_in.grant
    return MailCredentials("", None, grant), False


# ------------------------------------------------------------------------------ sync


def cmd_sync(args: argparse.Namespace, ctx: Any) -> None:
    """`nylas-engine sync [ACCOUNT] [--once]`: sync in the foreground with a progress bar."""
    from nylas_engine.store.accounts import find_by_email, find_by_public_id
    from nylas_engine.store.sync_status import imap_account_ids

    with ctx.db.session() as session:
        if args.account:
            account = find_by_public_id(session, args.account) or find_by_email(
                session, args.account
            )
            if account is None:
                raise SystemExit(f"no account with id or email {args.account!r}")
            if not account.imap_host:
                raise SystemExit(f"{account.email_address} has no IMAP server to sync from")
            ids = [account.id]
        else:
            ids = imap_account_ids(session)
    if not ids:
        raise SystemExit("no IMAP accounts: add one with `nylas-engine accounts add --imap-host`")
    failed = False
    for account_id in ids:
        failed |= not _sync_once(ctx, account_id, quiet=args.json)
    if args.once:
        sys.exit(1 if failed else 0)
    from nylas_engine.sync.worker import SyncService

    service = SyncService(ctx, account_ids=ids).start()
    print("syncing; waiting for new mail (Ctrl-C to stop)", file=sys.stderr, flush=True)
    try:
        service.wait()
    finally:
        service.stop()


def _sync_once(ctx: Any, account_id: int, *, quiet: bool) -> bool:
    from sqlalchemy.exc import IntegrityError

    from nylas_engine.store.models import Account
    from nylas_engine.store.sync_status import set_sync_state
    from nylas_engine.sync.imap import NETWORK_ERRORS, REFUSED, SyncError, close_quietly
    from nylas_engine.sync.run import AccountSync

    with ctx.db.session() as session:
        account = session.get(Account, account_id)
        assert account is not None
        email = account.email_address
    sync = AccountSync(ctx, account_id)
    # The progress bar only when it is shown: `rich` is a large import (CPU and memory).
    bar = contextlib.nullcontext() if quiet else _progress_bar(sync, email)
    client = None
    try:
        with bar:
            client = sync.connect()
            changes = sync.full_pass(client)
        with ctx.db.session() as session:
            set_sync_state(session, account_id, "running")
    except IntegrityError:
        print(
            f"error: {email} is being synced by another process (nylas-engine serve?); "
            "what it stored stays, run this again later",
            file=sys.stderr,
        )
        return False
    except (SyncError, *NETWORK_ERRORS) as exc:
        state = exc.sync_state if isinstance(exc, SyncError) else "connerror"
        with ctx.db.session() as session:
            set_sync_state(session, account_id, state, str(exc))
        print(f"error: {email}: {exc}", file=sys.stderr)
        return False
    except REFUSED as exc:  # one command refused: the account itself is fine
        print(f"error: {email}: the IMAP server refused: {exc}", file=sys.stderr)
        return False
    finally:
        if client is not None:
            close_quietly(client)
    result = {
        "account": email,
        "added": changes.added,
        "updated": changes.updated,
        "removed": changes.removed,
    }
    if quiet:
        print(json.dumps(result), flush=True)
    else:
        print(
            f"{email}: {changes.added} new, {changes.updated} changed, {changes.removed} removed",
            flush=True,
        )
    return True


def _progress_bar(sync: Any, email: str) -> Any:
    """A terminal progress bar following `sync` (its listeners), as a context manager."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[folder]}"),
        transient=False,
    )
    task = bar.add_task(email, total=None, folder="")

    def show(p: Any) -> None:
        bar.update(
            task, total=p.messages_total or None, completed=p.messages_synced, folder=p.folder or ""
        )

    sync.listeners.append(show)
    return bar
