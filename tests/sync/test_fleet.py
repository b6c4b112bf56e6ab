"""Many engine processes on one PostgreSQL and one S3-compatible store (docs/scaling.md):
two API processes (`serve --role api`) and two workers (`serve --role worker`), with a real
PostgreSQL (tests/postgres.py), moto's S3 server and a Dovecot holding a few mailboxes.

What a user of a fleet checks: every account synced by one worker, once; a worker killed
with SIGKILL has its accounts (and webhook delivery) taken over by the other, nothing lost
or stored twice; a change made through one API process reaches a longpoll on the other;
a file uploaded through one downloads through the other; failed sign-ins count across them.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from dovecot import Dovecot, SmtpRelay
from postgres import PostgresServer
from sqlalchemy import create_engine, text

from nylas.testing import LocalEngine, free_port

ACCOUNTS = 6  # shared out three and three; what holds for 6 holds for 20 (bench/fleet.py: 500)
MESSAGES = 6  # in each mailbox before it is added
WAIT = 90.0  # generous: the machine running the tests may be busy
TTL = "4"  # seconds a lease lasts unrenewed (takeover within TTL + a beat)
BUCKET = "nylas-blobs"


def raw_message(n: int, to: str, tag: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Sender <sender@example.org>"
    msg["To"] = to
    msg["Subject"] = f"{tag} {n}"
    msg["Message-ID"] = f"<{tag}-{n}-{to}>"
    msg["Date"] = "Tue, 02 Jan 2024 10:00:00 +0000"
    msg.set_content(f"message {n} of {tag}\n")
    return msg.as_bytes()


def wait_for(found: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := found():
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


class Receiver:
    """A webhook receiver: echoes challenges, keeps every accepted notification."""

    def __init__(self) -> None:
        self.deltas: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                challenge = parse_qs(urlsplit(self.path).query).get("challenge", [""])[0]
                self._answer(challenge)

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with receiver.lock:
                    receiver.deltas.extend(body["deltas"])
                self._answer("ok")

            def _answer(self, body: str) -> None:
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def created(self, account_id: str) -> list[str]:
        with self.lock:
            return [
                d["object_data"]["id"]
                for d in self.deltas
                if d["type"] == "message.created" and d["object_data"]["account_id"] == account_id
            ]


@dataclass
class Fleet:
    data_dir: Path
    db_url: str
    env: dict[str, str]
    dovecot: Dovecot
    apis: list[LocalEngine] = field(default_factory=list)
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    accounts: dict[str, str] = field(default_factory=dict)  # email → account id
    migrations: list[dict[str, Any]] = field(default_factory=list)  # `migrate --json` outputs

    def base(self) -> list[str]:
        return [sys.executable, "-m", "nylas_engine", "--data-dir", str(self.data_dir)]

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [*self.base(), "--db", self.db_url, *args],
            capture_output=True,
            text=True,
            env={**os.environ, **self.env},
            timeout=120,
            check=True,
        )
        return done.stdout

    def start_worker(self) -> subprocess.Popen[bytes]:
        log = (self.data_dir / f"worker{len(self.workers)}.log").open("ab")
        process = subprocess.Popen(
            [*self.base(), "--db", self.db_url, "serve", "--role", "worker"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **self.env},
        )
        self.workers.append(process)
        return process

    def sql(self, query: str, **params: Any) -> list[Any]:
        engine = create_engine(self.db_url)
        try:
            with engine.connect() as conn:
                return list(conn.execute(text(query), params))
        finally:
            engine.dispose()

    def account_leases(self) -> dict[int, tuple[str, int]]:
        rows = self.sql("SELECT name, owner, generation FROM leases WHERE name LIKE 'account:%'")
        return {int(name.split(":")[1]): (owner, gen) for name, owner, gen in rows}

    def live_workers(self) -> int:
        rows = self.sql(
            "SELECT count(*) FROM leases WHERE name LIKE 'worker:%' "
            "AND expires_at > extract(epoch from now())"
        )
        return int(rows[0][0])

    def api(self, n: int, token: str) -> httpx.Client:
        return httpx.Client(base_url=self.apis[n].url, auth=(token, ""), timeout=60)

    def messages(self, account_id: str) -> list[dict[str, Any]]:
        with self.api(1, account_id) as client:
            reply = client.get("/messages", params={"limit": 1000})
        assert reply.status_code == 200, reply.text
        return list(reply.json())


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory, postgres: PostgresServer) -> Iterator[Fleet]:
    from moto.server import ThreadedMotoServer

    pg = postgres
    s3 = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    s3.start()
    dovecot = Dovecot().start()
    data_dir = tmp_path_factory.mktemp("fleet")
    env = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{s3._port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "NYLAS_ENGINE_BLOBS": f"s3://{BUCKET}/engine",
        "NYLAS_ENGINE_LEASE_TTL": TTL,
        "NYLAS_ENGINE_SYNC_RETRY": "0.5",
        "NYLAS_ENGINE_WEBHOOK_POLL": "0.1",
        "NYLAS_ENGINE_WEBHOOK_RETRY": "0.2",
        "NYLAS_ENGINE_AUTH_FAILURE_LIMIT": "4",
    }
    import boto3

    boto3.client(
        "s3",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ).create_bucket(Bucket=BUCKET)
    fleet = Fleet(data_dir, pg.url(), env, dovecot)
    try:
        # Two processes migrate the new database together (test_migrate_... checks them).
        runs = [
            subprocess.Popen(
                [*fleet.base(), "--db", fleet.db_url, "migrate", "--json"],
                stdout=subprocess.PIPE,
                env={**os.environ, **env},
            )
            for _ in range(2)
        ]
        fleet.migrations = [json.loads(p.communicate(timeout=120)[0]) for p in runs]
        assert all(p.returncode == 0 for p in runs)
        # The second API process serves from two processes of its own (`--workers 2`).
        fleet.apis = [
            LocalEngine(data_dir, db_url=fleet.db_url, env=env, extra_args=["--role", "api"]),
            LocalEngine(
                data_dir,
                db_url=fleet.db_url,
                env=env,
                extra_args=["--role", "api", "--workers", "2"],
            ),
        ]
        # The API processes start while the workers join and the accounts are added.
        with ThreadPoolExecutor(len(fleet.apis)) as pool:
            started = [pool.submit(api.start, timeout=90) for api in fleet.apis]
            fleet.start_worker()
            fleet.start_worker()
            wait_for(lambda: fleet.live_workers() == 2, "both workers to join the fleet")
            add_accounts(fleet)
            for done in started:
                done.result()
        yield fleet
    finally:
        for process in fleet.workers:  # all told to stop at once, then waited for
            if process.poll() is None:
                process.terminate()
        with ThreadPoolExecutor(len(fleet.apis) or 1) as pool:
            list(pool.map(LocalEngine.close, fleet.apis))
        for process in fleet.workers:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(20)
            if process.poll() is None:
                process.kill()
                process.wait()
        dovecot.stop()
        s3.stop()


def add_accounts(fleet: Fleet) -> None:
    """ACCOUNTS mailboxes with mail in them, added as the CLI adds them (servers verified). This
    process opens the same S3 store; the environment is put back afterwards, so that the
    later tests of this process (and the engines they start) keep blobs of their own."""
    saved = dict(os.environ)
    os.environ.update(fleet.env)
    try:
        _add_accounts(fleet)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _add_accounts(fleet: Fleet) -> None:
    from nylas_engine.config import Settings
    from nylas_engine.context import EngineContext
    from nylas_engine.store.credentials import MailCredentials
    from nylas_engine.sync.accounts import connect_account

    ctx = EngineContext.open(Settings(data_dir=fleet.data_dir, db_url=fleet.db_url))
    for _ in range(ACCOUNTS):
        email, password = fleet.dovecot.new_user()
        fleet.dovecot.append(email, [raw_message(n, email, "first") for n in range(MESSAGES)])
        settings = fleet.dovecot.server_settings(email)
        account = connect_account(
            ctx.db, fleet.data_dir, settings, MailCredentials(password, None), allow_move=True
        )
        fleet.accounts[email] = account.public_id
    ctx.db.engine.dispose()


def all_synced(fleet: Fleet, per_account: int) -> bool:
    return all(len(fleet.messages(a)) >= per_account for a in fleet.accounts.values())


def assert_each_stored_once(fleet: Fleet, per_account: int) -> None:
    for email, account_id in fleet.accounts.items():
        messages = fleet.messages(account_id)
        subjects = [m["subject"] for m in messages]
        assert len(subjects) == len(set(subjects)) == per_account, (email, sorted(subjects))


# Its waits (first sync, takeover, catch-up) are each allowed WAIT on a busy machine; the
# suite's 120 s per test cut it short at a load average of 25.
@pytest.mark.timeout(360)
def test_accounts_are_shared_out_and_taken_over_when_a_worker_dies(fleet: Fleet) -> None:
    wait_for(lambda: all_synced(fleet, MESSAGES), "every account's first sync")
    assert_each_stored_once(fleet, MESSAGES)
    # Steady state: a lease's lifetime later, still no account changed hands (a late beat
    # made the other worker take accounts over for dead, and the hand-backs that followed
    # meant new logins and full passes: bench/RESULTS.md, Fleet).
    time.sleep(float(TTL))
    leases = fleet.account_leases()
    assert len(leases) == ACCOUNTS
    # One claim each (generation 1: no account ever changed hands), half to each worker.
    assert {gen for _, gen in leases.values()} == {1}
    owners = [owner for owner, _ in leases.values()]
    assert sorted(owners.count(o) for o in set(owners)) == [ACCOUNTS // 2, ACCOUNTS // 2]

    # A webhook, delivered by whichever worker holds the webhook job.
    receiver = Receiver()
    app = json.loads(fleet.cli("apps", "create", "--name", "Fleet", "--json"))
    (victim_owner,) = (
        row[0] for row in fleet.sql("SELECT owner FROM leases WHERE name = 'job:webhooks'")
    )
    watched_email = next(
        email
        for email, account_id in fleet.accounts.items()
        if leases[internal_id(fleet, account_id)][0] == victim_owner
    )
    watched = fleet.accounts[watched_email]
    fleet.cli("tokens", "create", watched, "--app", app["client_id"])
    hook = httpx.post(
        f"{fleet.apis[0].url}/a/{app['client_id']}/webhooks",
        auth=(app["client_secret"], ""),
        json={"callback_url": receiver.url, "triggers": ["message.created"], "state": "active"},
        timeout=60,  # the request includes the challenge to the receiver; CI machines are busy
    )
    assert hook.status_code == 200, hook.text
    with fleet.api(0, watched) as client:
        cursor = client.post("/delta/latest_cursor").json()["cursor"]

    # Steady state: each new message announced once, in the order of the delta log.
    for n in range(4):
        fleet.dovecot.deliver(watched_email, raw_message(n, watched_email, "steady"))
    wait_for(lambda: len(receiver.created(watched)) >= 4, "four notifications")
    with fleet.api(1, watched) as client:
        logged = client.get("/delta", params={"cursor": cursor}).json()["deltas"]
    inserted = [d["id"] for d in logged if d["object"] == "message" and d["event"] == "create"]
    assert receiver.created(watched) == inserted

    # Mail arrives in every mailbox of the worker that delivers webhooks, which is killed
    # while it syncs; the other worker takes its accounts and the webhook job over.
    victim = next(p for p in fleet.workers if str(p.pid) in victim_owner.split(":"))
    victim_accounts = [
        email
        for email, account_id in fleet.accounts.items()
        if leases[internal_id(fleet, account_id)][0] == victim_owner
    ]
    for email in victim_accounts:
        fleet.dovecot.append(email, [raw_message(n, email, "late") for n in range(3)])
    for n in range(4, 8):
        fleet.dovecot.deliver(watched_email, raw_message(n, watched_email, "steady"))
    victim.send_signal(signal.SIGKILL)
    victim.wait(20)

    def taken_over() -> bool:
        now = fleet.account_leases()
        return all(
            owner != victim_owner and gen == 2
            for owner, gen in map(
                now.__getitem__, (internal_id(fleet, fleet.accounts[e]) for e in victim_accounts)
            )
        )

    wait_for(taken_over, "the surviving worker to take the dead one's accounts")
    expected = {e: MESSAGES + 3 for e in victim_accounts}
    expected[watched_email] = MESSAGES + 3 + 8
    wait_for(
        lambda: all(len(fleet.messages(fleet.accounts[e])) >= n for e, n in expected.items()),
        "the dead worker's accounts to catch up",
    )
    for email, count in expected.items():
        subjects = [m["subject"] for m in fleet.messages(fleet.accounts[email])]
        assert len(subjects) == len(set(subjects)) == count, email
    # Nothing lost: every message of the watched account was announced.
    with fleet.api(0, watched) as client:
        steady = {
            m["id"]
            for m in client.get("/messages", params={"limit": 100}).json()
            if m["subject"].startswith("steady")
        }
    wait_for(lambda: steady <= set(receiver.created(watched)), "every notification")
    receiver.server.shutdown()


def internal_id(fleet: Fleet, public_id: str) -> int:
    (row,) = fleet.sql("SELECT id FROM accounts WHERE public_id = :p", p=public_id)
    return int(row[0])


def test_a_write_through_one_api_process_wakes_a_longpoll_on_the_other(fleet: Fleet) -> None:
    account_id = next(iter(fleet.accounts.values()))
    with fleet.api(0, account_id) as client:
        cursor = client.post("/delta/latest_cursor").json()["cursor"]
    answer: dict[str, Any] = {}

    def longpoll() -> None:
        with fleet.api(0, account_id) as client:
            reply = client.get("/delta/longpoll", params={"cursor": cursor, "timeout": 60})
            answer.update(reply.json())

    waiting = threading.Thread(target=longpoll)
    waiting.start()
    time.sleep(1.0)  # the longpoll is waiting (an earlier write would be found at once too)
    with fleet.api(1, account_id) as client:
        contact = client.post("/contacts", json={"given_name": "Woken"}).json()
    waiting.join(90)
    assert contact["id"] in [d["id"] for d in answer["deltas"]]


def test_connections_opened_at_once_are_served_by_every_api_process(fleet: Fleet) -> None:
    """`serve --workers 2`: a client that opens its connections at once (a pool, a load
    generator) has them spread over both processes, each accepting on a socket of its own;
    with one shared socket a process that woke accepted them all and the other sat idle."""
    api = fleet.apis[1]  # --workers 2
    assert api.process is not None
    # Connected in a row before any request, as a pool or a load generator does: all wait to
    # be accepted at the same moment.
    connections = [socket.create_connection(("127.0.0.1", api.port)) for _ in range(32)]
    try:
        for connection in connections:
            connection.sendall(b"GET /account HTTP/1.1\r\nHost: localhost\r\n\r\n")
        for connection in connections:
            connection.settimeout(30)
            assert connection.recv(9) == b"HTTP/1.1 "  # accepted and answered
        per_process = _established_connections(api.process.pid, api.port)
    finally:
        for connection in connections:
            connection.close()
    serving = {pid: n for pid, n in per_process.items() if n}
    assert len(serving) == 2, per_process
    assert sum(serving.values()) == len(connections), per_process


def test_a_port_served_by_several_api_processes_is_still_in_use_for_another_engine(
    fleet: Fleet,
) -> None:
    """The processes of `--workers 2` share their port with each other only: another engine
    asking for it, with several workers too, is told the port is taken (it would otherwise
    join the port and take a share of the first one's connections)."""
    done = subprocess.run(
        [*fleet.base(), "--db", fleet.db_url, "serve", "--role", "api", "--workers", "2"]
        + ["--port", str(fleet.apis[1].port)],
        capture_output=True,
        text=True,
        env={**os.environ, **fleet.env},
        timeout=120,
    )
    assert done.returncode != 0
    assert f"port {fleet.apis[1].port} is in use" in done.stderr


def _established_connections(parent: int, port: int) -> dict[int, int]:
    """Established TCP connections on local `port`, per child process of `parent` (/proc)."""
    established = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(FileNotFoundError), open(table) as lines:
            next(lines)
            for line in lines:
                fields = line.split()
                local_port = int(fields[1].rsplit(":", 1)[1], 16)
                if local_port == port and fields[3] == "01":  # 01: ESTABLISHED
                    established.add(fields[9])  # the socket's inode
    children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    counts = {}
    for child in map(int, children):
        inodes = set()
        for fd in Path(f"/proc/{child}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        counts[child] = len(inodes & established)
    return counts


def test_a_file_uploaded_through_one_api_process_downloads_through_the_other(
    fleet: Fleet,
) -> None:
    account_id = next(iter(fleet.accounts.values()))
    data = os.urandom(3 * 1024 * 1024) + b"end"
    with fleet.api(0, account_id) as client:
        (created,) = client.post("/files", files={"file": ("big.bin", data)}).json()
    with fleet.api(1, account_id) as client:
        assert client.get(f"/files/{created['id']}/download").content == data
    # It is in the bucket, under its hash, not in the data dir.
    assert not (fleet.data_dir / "blobs").exists() or not any(
        p.is_file() and p.stat().st_size == len(data) for p in (fleet.data_dir / "blobs").rglob("*")
    )


def test_failed_sign_ins_count_across_api_processes(fleet: Fleet) -> None:
    app = json.loads(fleet.cli("apps", "create", "--name", "Guessed", "--json"))
    form = {
        "client_id": app["client_id"],
        "client_secret": "wrong",
        "grant_type": "authorization_code",
        "code": "nothing",
    }
    statuses = [
        httpx.post(fleet.apis[n % 2].url + "/oauth/token", data=form, timeout=60).status_code
        for n in range(4)
    ]
    assert 429 not in statuses
    # The limit is 4 failures: the fifth try is refused, on either process.
    for api in fleet.apis[:2]:
        assert httpx.post(api.url + "/oauth/token", data=form, timeout=60).status_code == 429


def test_a_flag_changed_through_an_api_process_reaches_the_server(fleet: Fleet) -> None:
    """Write-back across processes: the worker syncing the account hears of the change from
    the delta log's notification (store/delta_notify.py) and writes it to the IMAP server."""
    email, account_id = next(iter(fleet.accounts.items()))
    with fleet.api(0, account_id) as client:
        message = next(m for m in fleet.messages(account_id) if m["subject"] == "first 3")
        reply = client.put(f"/messages/{message['id']}", json={"unread": False, "starred": True})
    assert reply.status_code == 200, reply.text

    def flagged_on_server() -> bool:
        imap = fleet.dovecot.client(email)
        try:
            imap.select_folder("INBOX", readonly=True)
            (uid,) = imap.search(["HEADER", "Message-ID", f"<first-3-{email}>"])
            flags = imap.get_flags([uid])[uid]
        finally:
            imap.logout()
        return b"\\Seen" in flags and b"\\Flagged" in flags

    wait_for(flagged_on_server, "the flags on the IMAP server")


def test_mail_sent_through_an_api_process_is_filed_in_sent_once_across_the_fleet(
    fleet: Fleet,
) -> None:
    """Sent-folder filing is a job of the account's sync, so it runs in the one worker that
    holds the account's lease: with two workers, the copy lands in Sent once. (The takeover
    test killed one worker: a new one joins first.)"""
    if len([p for p in fleet.workers if p.poll() is None]) < 2:
        fleet.start_worker()
    wait_for(lambda: fleet.live_workers() == 2, "two workers in the fleet")
    relay = SmtpRelay(fleet.dovecot).start()
    try:
        email, password = fleet.dovecot.new_user()
        bob, _ = fleet.dovecot.new_user()
        account_id = add_account(fleet, email, password, relay)
        pk = internal_id(fleet, account_id)
        wait_for(lambda: pk in fleet.account_leases(), "a worker to take the new account")
        with fleet.api(0, account_id) as client:
            wait_for(
                lambda: client.get("/account").json().get("sync_progress"),
                "the new account's first sync",
            )
            sent = client.post(
                "/send", json={"to": [{"email": bob}], "subject": "Filed once", "body": "Hi"}
            )
            assert sent.status_code == 200, sent.text

            def in_sent() -> list[int]:
                with fleet.dovecot.client(email, password) as imap:
                    imap.select_folder("Sent", readonly=True)
                    return list(imap.search(["SUBJECT", "Filed once"]))

            wait_for(in_sent, "the copy in the server's Sent folder")
            # A second copy would come with the first (both past the same grace period):
            # a few beats later, there is none.
            time.sleep(3)
            assert len(in_sent()) == 1
            wait_for(
                lambda: (
                    [m["id"] for m in client.get("/messages", params={"in": "sent"}).json()]
                    == [sent.json()["id"]]
                ),
                "the copy linked to the sent message",
            )
        owners = {owner for owner, _ in fleet.account_leases().values()}
        assert len(owners) == 2  # both workers sync accounts: the other one was there to race
    finally:
        relay.stop()


def add_account(fleet: Fleet, email: str, password: str, relay: SmtpRelay) -> str:
    """One more account, sending through `relay`; its public id."""
    from dataclasses import replace

    from nylas_engine.config import Settings
    from nylas_engine.context import EngineContext
    from nylas_engine.store.credentials import MailCredentials
    from nylas_engine.sync.accounts import connect_account

    saved = dict(os.environ)
    os.environ.update(fleet.env)
    ctx = EngineContext.open(Settings(data_dir=fleet.data_dir, db_url=fleet.db_url))
    try:
        settings = replace(
            fleet.dovecot.server_settings(email), smtp_host=relay.host, smtp_port=relay.port
        )
        account = connect_account(
            ctx.db, fleet.data_dir, settings, MailCredentials(password, None), allow_move=True
        )
        return str(account.public_id)
    finally:
        ctx.db.engine.dispose()
        os.environ.clear()
        os.environ.update(saved)


def test_a_worker_renews_all_its_leases_with_one_write_and_a_stalled_one_cannot_write(
    postgres: PostgresServer,
) -> None:
    """A beat renews a worker's presence, and with it every lease it holds, in one UPDATE
    and nothing else. A worker is alive while it holds its liveness lock: one that missed its
    beats (its heartbeat thread starved of the GIL) keeps its leases. One whose lock's
    connection was lost finds its leases taken over; its beat says so, and its commit under a
    lost lease raises instead of writing. The presence rows of workers long dead are swept."""
    from sqlalchemy import event

    from nylas_engine.store import guess_counters, leases
    from nylas_engine.store.db import Database
    from nylas_engine.store.liveness import Liveness

    db = Database(postgres.url())
    statements: list[str] = []
    event.listen(
        db.engine, "before_cursor_execute", lambda _c, _cur, sql, *_: statements.append(sql)
    )
    names = [f"account:fencing-{n}" for n in range(3)]
    stalled_lock = Liveness(db.url, "stalled").start()
    taker_lock = Liveness(db.url, "taker").start()
    try:
        with db.session() as session:
            stalled = leases.join(session, "stalled", ttl=0.3)
            held = [leases.claim(session, name, "stalled") for name in names]
        assert all(held)
        time.sleep(0.5)  # no beat for longer than its presence lasts: its lock says alive
        with db.session() as session:
            leases.join(session, "taker", ttl=60)
            assert leases.claim(session, names[0], "taker") is None
            assert leases.live_owners(session) == ["worker:stalled", "worker:taker"]
            statements.clear()
            alive = stalled_lock.held_throughout()
            beat = leases.beat(session, stalled, ttl=0.3, slack=1, alive_throughout=alive)
            assert beat == leases.Beat(held=None)
            assert len(statements) == 1 and statements[0].startswith("UPDATE")

        # The stalled worker's lock connection is lost: another worker takes a lease over.
        with db.session() as session:
            session.execute(
                text("SELECT pg_terminate_backend(:pid)"),
                {"pid": stalled_lock._conn.info.backend_pid},
            )

        def take() -> leases.Lease | None:
            with db.session() as session:
                return leases.claim(session, names[0], "taker")

        taken = wait_for(take, "the lease of a worker without its lock", timeout=10)
        assert held[0] is not None and taken.generation == held[0].generation + 1
        alive = stalled_lock.held_throughout()  # it wakes: a new connection, the lock again
        assert not alive
        with db.session() as session:  # its beat: it holds the others only
            beat = leases.beat(session, stalled, ttl=0.3, slack=1, alive_throughout=alive)
            assert beat == leases.Beat(set(held[1:]))
            assert leases.claim(session, names[1], "taker") is None  # alive again

        with leases.fenced(held[0]), pytest.raises(leases.LeaseLost), db.session() as session:
            guess_counters.record(session, ["fencing-test"], time.time())
        with leases.fenced(taken), db.session() as session:
            guess_counters.record(session, ["fencing-test"], time.time())
        with db.session() as session:
            assert guess_counters.recent(session, ["fencing-test"], 0)["fencing-test"][0] == 1

        stalled_lock.close()  # dead, for longer than the sweep allows: its row goes
        time.sleep(0.5)
        with db.session() as session:
            assert leases.sweep(session, dead_for=0.1) == 1
            assert leases.live_owners(session) == ["worker:taker"]
            assert leases.beat(session, stalled, ttl=60, slack=1, alive_throughout=False) is None
            assert leases.claim(session, names[1], "taker") is not None
    finally:
        stalled_lock.close()
        taker_lock.close()
        db.engine.dispose()


def test_migrate_brings_a_new_database_to_the_newest_revision(fleet: Fleet) -> None:
    from nylas_engine.store.db import head_revision

    # Two processes starting together on the fleet's new database (its fixture): both
    # succeeded, the schema was made once.
    assert {o["to"] for o in fleet.migrations} == {head_revision()}
    again = json.loads(fleet.cli("migrate", "--json"))
    assert again == {"from": head_revision(), "to": head_revision()}


@pytest.mark.parametrize("option", [["--role", "api"], ["--role", "worker"], ["--workers", "2"]])
def test_role_and_workers_are_refused_on_sqlite(tmp_path: Path, option: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "nylas_engine", "--data-dir", str(tmp_path), "serve", *option],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "need a PostgreSQL database" in done.stderr
