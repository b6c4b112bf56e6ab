"""`nylas-engine`: serve the API, make a demo, manage accounts and apps, import mail."""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from nylas_engine.config import DEFAULT_PORT, Settings, default_data_dir, parse_origins
from nylas_engine.dav.cli import add_dav_arguments
from nylas_engine.listener import Listener, open_listener
from nylas_engine.resources_cli import add_resources_commands
from nylas_engine.sync.cli import add_imap_arguments


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _settings(args: argparse.Namespace) -> Settings:
    settings = Settings(data_dir=Path(args.data_dir) if args.data_dir else default_data_dir())
    settings.db_url = args.db
    if getattr(args, "blobs", None):
        settings.blobs_url = args.blobs
    return settings


def _open(args: argparse.Namespace) -> Any:
    from nylas_engine.context import EngineContext

    return EngineContext.open(_settings(args))


def _emit(args: argparse.Namespace, data: dict[str, Any], text: str) -> None:
    print(json.dumps(data) if getattr(args, "json", False) else text)


# ------------------------------------------------------------------------------ serve


# Seconds an idle keep-alive connection is kept open. Longer than the idle timeout of the
# clients' pools (httpx and Node's agent drop theirs after 5 s, uvicorn's own default): at
# equal timeouts a client could send a request on a connection the server was just closing,
# and get a connection reset instead of an answer.
KEEP_ALIVE = 75


def resolve_auth_mode(host: str, requested: str | None, force_open: bool) -> str:
    """Open mode (account id = token) is the default only on loopback (issue 2)."""
    mode = requested or ("open" if _is_loopback(host) else "token")
    if mode == "open" and not _is_loopback(host) and not force_open:
        raise SystemExit(
            f"refusing to serve in open mode on {host}: anyone who can reach it could read "
            "every account. Use --auth token, or --force-open if you really mean it."
        )
    return mode


def check_cors(settings: Settings) -> None:
    """`*` would let every web page use the API from a visitor's browser: with open mode's
    account-id tokens, that is every page reading the mailbox."""
    if "*" in settings.cors_origins and settings.auth_mode == "open":
        raise SystemExit(
            "refusing CORS origin '*' in open mode: any web page could read every account. "
            "Name the origins (--cors-origins https://app.example) or use --auth token."
        )


def serve(
    settings: Settings,
    listener: Listener,
    *,
    banner: str | None = None,
    ctx: Any = None,
    role: str = "all",
    workers: int = 1,
) -> None:
    """Serve the API on `listener` (bound already, see listener.py) until interrupted.

    `role` "all" also runs the background work (sync, webhooks, outbox): in this process's
    threads on SQLite, as a fleet worker (fleet.py) on PostgreSQL; "api" runs only the API.
    `workers` > 1 serves it from that many processes (uvicorn's workers)."""
    import uvicorn

    from nylas_engine.api.app import create_app
    from nylas_engine.api.query_guard import AccessLogRedaction
    from nylas_engine.context import EngineContext
    from nylas_engine.dav.worker import start_dav
    from nylas_engine.send.scheduler import start_outbox
    from nylas_engine.webhooks.deliver import start_webhooks

    check_cors(settings)
    ctx = ctx or EngineContext.open(settings)
    app = create_app(ctx)
    if banner:
        print(banner, flush=True)
    if hint := listener.trust_hint():
        print(hint, flush=True)
    log_level = os.environ.get("NYLAS_ENGINE_LOG_LEVEL", "warning")
    print(f"nylas-engine serving on {listener.url} ({settings.auth_mode} mode)", flush=True)
    services: list[Any] = []
    if role == "all" and not ctx.db.is_sqlite:
        from nylas_engine.fleet import Fleet

        services = [Fleet(ctx).start()]
    elif role == "all":
        services = [start_sync(ctx), start_dav(ctx), start_webhooks(ctx), start_outbox(ctx)]
    logging.getLogger("uvicorn.access").addFilter(AccessLogRedaction())
    tls = listener.tls
    if workers > 1:
        _serve_processes(settings, listener, workers, log_level)
        for service in services:
            if service is not None:
                service.stop()
        return
    config = uvicorn.Config(
        app,
        host=listener.host,
        port=listener.port,
        log_level=log_level,
        timeout_graceful_shutdown=2,
        timeout_keep_alive=KEEP_ALIVE,
        ssl_certfile=str(tls.cert) if tls else None,
        ssl_keyfile=str(tls.key) if tls else None,
    )
    with _signals_after(services):
        try:
            uvicorn.Server(config).run(sockets=[listener.sock])
        finally:
            listener.close()
            for service in services:
                if service is not None:
                    service.stop()


@contextlib.contextmanager
def _signals_after(services: list[Any]) -> Iterator[None]:
    """Stop `services` on SIGTERM or Ctrl-C before the process ends. uvicorn shuts the API
    down on either, then raises the signal again as it returns, whose default action ends
    the process at once, before anything after `run` (its own handlers put back first: so
    ours, which note it and let the services stop; it is raised again afterwards, so the
    process ends as the signal says)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = {
        sig: signal.signal(sig, lambda number, _frame: caught.append(number))
        for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    for number in reversed(caught):
        signal.raise_signal(number)


def _serve_processes(settings: Settings, listener: Listener, workers: int, log_level: str) -> None:
    """The API in `workers` processes, each on a socket of its own on the one port
    (api_processes.py); each builds its app from the environment (`api.app.app_from_env`)."""
    import uvicorn

    from nylas_engine.api_processes import ApiProcesses

    os.environ.update(
        NYLAS_ENGINE_HOME=str(settings.data_dir),
        NYLAS_ENGINE_AUTH=settings.auth_mode,
        NYLAS_ENGINE_MAX_UPLOAD=str(settings.max_upload_bytes),
        NYLAS_ENGINE_CORS_ORIGINS=",".join(settings.cors_origins),
        NYLAS_ENGINE_ALLOW_MAIL_HOSTS=settings.allow_mail_hosts,
    )
    if settings.db_url:
        os.environ["NYLAS_ENGINE_DB"] = settings.db_url
    if settings.blobs_url:
        os.environ["NYLAS_ENGINE_BLOBS"] = settings.blobs_url
    tls = listener.tls
    config = uvicorn.Config(
        "nylas_engine.api.app:app_from_env",
        factory=True,
        workers=workers,
        log_level=log_level,
        timeout_graceful_shutdown=2,
        timeout_keep_alive=KEEP_ALIVE,
        ssl_certfile=str(tls.cert) if tls else None,
        ssl_keyfile=str(tls.key) if tls else None,
    )
    sockets = [listener.sock, *(listener.another_socket() for _ in range(workers - 1))]
    try:
        ApiProcesses(config, sockets).run()
    finally:
        for sock in sockets:
            sock.close()


def run_worker(settings: Settings) -> None:
    """`serve --role worker`: sync, webhooks and outbox of this process's share of the
    accounts, no API, until SIGTERM or Ctrl-C (then the leases are handed back)."""
    import signal
    import threading

    from nylas_engine.context import EngineContext
    from nylas_engine.fleet import Fleet

    ctx = EngineContext.open(settings)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    fleet = Fleet(ctx).start()
    print(f"nylas-engine worker {fleet.owner} started", flush=True)
    try:
        while not stop.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        fleet.stop()


def start_sync(ctx: Any) -> Any:
    """One IMAP sync worker per account, in threads of this process (off: NYLAS_ENGINE_SYNC=0)."""
    if os.environ.get("NYLAS_ENGINE_SYNC", "1") == "0":
        return None
    from nylas_engine.sync.worker import SyncService

    return SyncService(ctx).start()


def cmd_serve(args: argparse.Namespace) -> None:
    settings = _settings(args)
    settings.auth_mode = resolve_auth_mode(args.host, args.auth, args.force_open)
    if args.max_upload_mb:
        settings.max_upload_bytes = int(args.max_upload_mb * 1024 * 1024)
    if args.cors_origins is not None:
        settings.cors_origins = parse_origins(args.cors_origins)
    if args.allow_mail_hosts is not None:
        settings.allow_mail_hosts = args.allow_mail_hosts
    _check_mail_hosts(settings.allow_mail_hosts)
    check_cors(settings)
    if (args.role != "all" or args.workers > 1) and not settings.database_url.startswith(
        "postgresql"
    ):
        raise SystemExit(
            "--role and --workers need a PostgreSQL database (--db postgresql+psycopg://...): "
            "processes coordinate through it. On SQLite one `serve` does everything."
        )
    if args.workers < 1:
        raise SystemExit("--workers: at least 1")
    settings.role = args.role
    if args.role == "worker":
        run_worker(settings)
        return
    serve(settings, listen(args, settings), role=args.role, workers=args.workers)


def cmd_migrate(args: argparse.Namespace) -> None:
    """Bring the database schema to the newest revision (processes that start together
    wait for each other; see store/db.py)."""
    from nylas_engine.store.db import Database, current_revision, head_revision, migrate

    settings = _settings(args)
    db = Database(settings.database_url, run_migrations=False)
    before = current_revision(db.engine)
    migrate(db.engine)
    data = {"from": before, "to": head_revision()}
    _emit(args, data, f"database at revision {head_revision()} (was {before or 'empty'})")


def listen(args: argparse.Namespace, settings: Settings) -> Listener:
    """The socket and certificate `serve`/`demo` asked for, or SystemExit saying why not."""
    return open_listener(
        args.host,
        args.port,
        settings.data_dir,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        tls_self_signed=args.tls_self_signed,
        share_port=getattr(args, "workers", 1) > 1,
    )


def _check_mail_hosts(allowed: str) -> None:
    from nylas_engine.sync.hosts import MailHostPolicy

    try:
        MailHostPolicy.parse(allowed)
    except ValueError as exc:
        raise SystemExit(f"--allow-mail-hosts / NYLAS_ENGINE_ALLOW_MAIL_HOSTS: {exc}") from None


# ------------------------------------------------------------------------------ accounts, apps


def cmd_accounts_add(args: argparse.Namespace) -> None:
    from nylas_engine.dav.cli import configure_dav, wants_dav
    from nylas_engine.store.accounts import create_account
    from nylas_engine.sync.cli import cmd_accounts_add_imap, read_password

    if args.imap_host or args.oauth or _has_preset(args):
        # A real mailbox: verified against its servers (named, or the provider's) first.
        ctx = _open(args)
        data = cmd_accounts_add_imap(args, ctx)
        if wants_dav(args):
            configure_dav(ctx, data["id"], args, None)
        _emit(args, data, f"{data['id']}  {data['email_address']}")
        return
    password = read_password(args)
    ctx = _open(args)
    with ctx.db.session() as session:
        account = create_account(
            session,
            args.email,
            name=args.name or "",
            provider=args.provider,
            organization_unit=args.organization_unit,
            password=password,
            smtp_host=args.smtp_host,
            smtp_port=args.smtp_port,
            smtp_username=args.smtp_username,
        )
        data = {"id": account.public_id, "email_address": account.email_address}
    if wants_dav(args):  # a calendar-only or contacts-only account, or a local one with both
        configure_dav(ctx, data["id"], args, password)
    _emit(args, data, f"{data['id']}  {data['email_address']}")


def _has_preset(args: argparse.Namespace) -> bool:
    """A password was given for an address of a provider the engine knows the servers of."""
    from nylas_engine.sync.presets import lookup

    return bool(args.password_env or args.password_file) and lookup(args.email) is not None


def cmd_accounts_list(args: argparse.Namespace) -> None:
    from nylas_engine.store.accounts import live_accounts

    ctx = _open(args)
    with ctx.db.session() as session:
        rows = [
            {"id": a.public_id, "email_address": a.email_address, "sync_state": a.sync_state}
            for a in session.scalars(live_accounts())
        ]
    if args.json:
        print(json.dumps(rows))
        return
    for row in rows:
        print(f"{row['id']}  {row['email_address']}  {row['sync_state']}")


def cmd_apps_create(args: argparse.Namespace) -> None:
    from nylas_engine.store.auth import create_app
    from nylas_engine.store.webhooks import keep_secret

    ctx = _open(args)
    with ctx.db.session() as session:
        app, secret = create_app(session, args.name, args.redirect_uri)
        keep_secret(app, secret, ctx.vault)  # to sign its webhook notifications
        data = {"client_id": app.client_id, "client_secret": secret, "name": app.name}
    _emit(
        args,
        data,
        f"client_id:     {data['client_id']}\nclient_secret: {secret}\n"
        "(the secret is shown once; it is stored hashed, and sealed with the engine key to "
        "sign webhook notifications)",
    )


def cmd_tokens_create(args: argparse.Namespace) -> None:
    """Issue an access token without the browser flow (scripts, tests, token mode by hand)."""
    from nylas_engine.scopes import scope_error
    from nylas_engine.store.accounts import find_by_email, find_by_public_id
    from nylas_engine.store.auth import DEFAULT_SCOPES, find_app, issue_token

    ctx = _open(args)
    with ctx.db.session() as session:
        account = find_by_public_id(session, args.account) or find_by_email(session, args.account)
        if account is None:
            raise SystemExit(f"no account with id or email {args.account!r}")
        app = None
        if args.app:
            app = find_app(session, args.app)
            if app is None:
                raise SystemExit(f"no app with client id {args.app!r}")
        if args.scopes and (problem := scope_error(args.scopes)):
            raise SystemExit(problem)
        token = issue_token(session, account, app, args.scopes or DEFAULT_SCOPES)
        data = {"access_token": token, "account_id": account.public_id}
    _emit(args, data, token)


def cmd_cert(args: argparse.Namespace) -> None:
    from nylas_engine.tls import local_certificate

    files = local_certificate(_settings(args).data_dir)
    data = {"ca": str(files.ca), "cert": str(files.cert), "key": str(files.key)}
    _emit(
        args,
        data,
        f"CA to trust:  {files.ca}\ncertificate:  {files.cert}\nkey:          {files.key}\n"
        f"(for localhost, 127.0.0.1 and ::1; served by `nylas-engine serve --tls-self-signed`)\n"
        f"  export REQUESTS_CA_BUNDLE={files.ca} NODE_EXTRA_CA_CERTS={files.ca}",
    )


def cmd_sync(args: argparse.Namespace) -> None:
    from nylas_engine.sync.cli import cmd_sync as run

    run(args, _open(args))


# ------------------------------------------------------------------------------ parser


def _global_options(*, suppress: bool) -> argparse.ArgumentParser:
    """--data-dir and --db, accepted before the command and after it (`nylas-engine serve
    --db URL`). After it they are parsed by the command's parser, whose default (SUPPRESS)
    leaves a value given before the command alone."""
    default = argparse.SUPPRESS if suppress else None
    options = argparse.ArgumentParser(add_help=False)
    group = options.add_argument_group("global options")
    group.add_argument(
        "--data-dir",
        metavar="DIR",
        default=default,
        help="where the database, blobs and certificates live "
        "(default: $NYLAS_ENGINE_HOME or ~/.local/share/nylas-engine)",
    )
    group.add_argument(
        "--db",
        metavar="URL",
        default=default,
        help="any SQLAlchemy URL, e.g. postgresql+psycopg://user@host/nylas "
        "(default: SQLite in the data dir)",
    )
    group.add_argument(
        "--blobs",
        metavar="URL",
        default=default,
        help="where raw messages and files live: s3://bucket/prefix on S3-compatible storage, "
        "endpoint and credentials from AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ... "
        "(default: $NYLAS_ENGINE_BLOBS, else blobs/ in the data dir)",
    )
    return options


def _json_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def _listen_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    p.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="port to listen on (default: %(default)s)"
    )
    tls = p.add_argument_group("HTTPS (default: plain HTTP)")
    tls.add_argument("--tls-cert", metavar="FILE", help="serve HTTPS with this PEM certificate")
    tls.add_argument("--tls-key", metavar="FILE", help="the PEM private key of --tls-cert")
    tls.add_argument(
        "--tls-self-signed",
        action="store_true",
        help="serve HTTPS with a certificate for localhost/127.0.0.1/::1 signed by a local "
        "certificate authority kept in the data dir (made on first use; its CA file is "
        "printed, for REQUESTS_CA_BUNDLE / NODE_EXTRA_CA_CERTS / curl --cacert)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nylas-engine",
        description="An open-source server for the Nylas v2 REST API.",
        parents=[_global_options(suppress=False)],
    )
    sub = parser.add_subparsers(
        dest="command",
        required=True,
        metavar="COMMAND",
        help="`nylas-engine COMMAND --help` shows a command's options",
    )
    common = [_global_options(suppress=True)]

    def command(
        parent: Any, name: str, help: str, *, description: str | None = None
    ) -> argparse.ArgumentParser:
        return parent.add_parser(  # type: ignore[no-any-return]
            name, help=help, description=description or help, parents=common
        )

    p = command(sub, "serve", "serve the REST API")
    _listen_options(p)
    p.add_argument(
        "--auth",
        choices=["open", "token"],
        help="open: the account id is the token; token: OAuth tokens only "
        "(default: open on loopback only, else token)",
    )
    p.add_argument("--force-open", action="store_true", help="allow open mode off loopback")
    p.add_argument(
        "--max-upload-mb", type=float, metavar="MB", help="upload size limit (default 64)"
    )
    p.add_argument(
        "--cors-origins",
        metavar="LIST",
        help="comma-separated web origins allowed to call the API from a browser, e.g. "
        "https://app.example (default: $NYLAS_ENGINE_CORS_ORIGINS, else none)",
    )
    p.add_argument(
        "--allow-mail-hosts",
        metavar="LIST",
        help="in token mode, mail hosts besides public ones that /connect/authorize may "
        "connect to: comma-separated names, addresses, networks (10.0.0.0/8), or * for any "
        "(default: $NYLAS_ENGINE_ALLOW_MAIL_HOSTS)",
    )
    p.add_argument(
        "--role",
        choices=["all", "api", "worker"],
        default="all",
        help="all: the API and the background work (default); api: only the API; worker: "
        "only sync, webhooks and outbox, sharing the accounts with the other workers "
        "(api and worker need PostgreSQL; docs/scaling.md)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="serve the API from N processes on this machine (PostgreSQL only; default 1)",
    )
    p.set_defaults(func=cmd_serve)

    p = command(sub, "migrate", "bring the database schema to the newest revision, then exit")
    _json_option(p)
    p.set_defaults(func=cmd_migrate)

    p = command(sub, "demo", "create a demo account with a realistic mailbox, then serve it")
    _listen_options(p)
    p.add_argument(
        "--messages", type=int, default=300, help="about how many messages (default: 300)"
    )
    p.add_argument("--no-serve", action="store_true", help="only create the data, then exit")
    _json_option(p)
    p.set_defaults(func=_lazy("nylas_engine.demo", "cmd_demo"))

    p = command(
        sub,
        "cert",
        "make (or show) the local certificate that --tls-self-signed serves",
        description="Make the engine's local certificate authority and its certificate for "
        "localhost, 127.0.0.1 and ::1 in the data dir, or show the ones made before, and "
        "print the CA file clients should trust.",
    )
    _json_option(p)
    p.set_defaults(func=cmd_cert)

    p = command(sub, "sync", "sync IMAP accounts in the foreground, with progress")
    p.add_argument("account", nargs="?", help="account id or email (default: every IMAP account)")
    p.add_argument("--once", action="store_true", help="one pass over every folder, then exit")
    p.add_argument("--json", action="store_true", help="no progress bar; a JSON line per account")
    p.set_defaults(func=cmd_sync)

    p = command(sub, "import", "import an mbox file, a Maildir or a .eml file into an account")
    p.add_argument("account", help="account id or email address")
    p.add_argument("path", help="an mbox file, a Maildir, a folder of mboxes, or one .eml")
    _json_option(p)
    p.set_defaults(func=_lazy("nylas_engine.importer", "cmd_import"))

    accounts = command(sub, "accounts", "manage accounts").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    p = command(accounts, "add", "add a local account, or a real one with --imap-host")
    p.add_argument("--email", required=True, help="the account's email address")
    p.add_argument("--name", help="the account owner's display name")
    p.add_argument(
        "--provider", default="custom", help="provider name the API reports (default: custom)"
    )
    p.add_argument(
        "--organization-unit",
        choices=["folder", "label"],
        default="folder",
        help="folders (one per message) or labels (many); default: folder",
    )
    p.add_argument("--password-env", help="env var holding the login/mail password")
    p.add_argument("--smtp-host", help="SMTP server that sends this account's mail")
    p.add_argument(
        "--smtp-port",
        type=int,
        help="SMTP port (default: 465 with --tls, 587 with --starttls, else 25)",
    )
    p.add_argument("--smtp-username", help="SMTP login (default: the email address)")
    add_imap_arguments(p)
    add_dav_arguments(p)
    _json_option(p)
    p.set_defaults(func=cmd_accounts_add)
    p = command(accounts, "list", "list accounts")
    _json_option(p)
    p.set_defaults(func=cmd_accounts_list)

    apps = command(sub, "apps", "manage OAuth apps").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    p = command(apps, "create", "create an app; prints its client id and secret")
    p.add_argument("--name", default="My App", help="the app's name (default: My App)")
    p.add_argument(
        "--redirect-uri",
        action="append",
        default=[],
        metavar="URI",
        help="a redirect URI the OAuth flow may return to (repeat for more)",
    )
    _json_option(p)
    p.set_defaults(func=cmd_apps_create)

    tokens = command(sub, "tokens", "manage access tokens").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    p = command(tokens, "create", "issue an access token for an account; prints it")
    p.add_argument("account", help="account id or email address")
    p.add_argument("--app", help="client id of the app the token is issued for")
    p.add_argument("--scopes", help="comma-separated (default: email,calendar,contacts)")
    _json_option(p)
    p.set_defaults(func=cmd_tokens_create)

    add_resources_commands(sub, command)
    return parser


def _lazy(module: str, name: str) -> Any:
    def run(args: argparse.Namespace) -> Any:
        from importlib import import_module

        return getattr(import_module(module), name)(args)

    return run


def run() -> None:
    """The `nylas-engine` command (and `python -m nylas_engine`): `main`, then the process
    ends without the interpreter's teardown, which frees every object one at a time (after a
    first sync, 0.1-0.2 s of the command's time). Only once no other thread but a daemon is
    left, the worker processes are let go, the databases closed (PostgreSQL would log a
    dropped connection) and the output flushed; else as Python ends, as it does under a
    profiler or a tracer (`python -m cProfile`, coverage), which write their results then."""
    import threading

    code: str | int | None = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code
    others = [t for t in threading.enumerate() if t is not threading.main_thread()]
    observed = sys.getprofile() is not None or sys.gettrace() is not None
    if observed or not isinstance(code, int) or any(not t.daemon for t in others if t.is_alive()):
        sys.exit(code)
    from nylas_engine.store.db import close_all
    from nylas_engine.store.prepare import close_idle

    close_idle()
    close_all()
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(code)


def main(argv: list[str] | None = None) -> None:
    # Whatever the engine writes is its user's alone (mail, credentials): see store/private.py.
    os.umask(0o077)
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    run()
