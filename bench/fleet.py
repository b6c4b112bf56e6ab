"""Fleet benchmark (issue 16): sync throughput of `serve --role worker` with one worker and
with two, API requests per second with one API process and with two, on a real PostgreSQL
and a real Dovecot.

    python bench/fleet.py [--accounts 200] [--messages 50] [--no-write]

For each worker count, in a fresh database: the accounts are added (servers verified, as
`accounts add --imap-host` does), then the workers start and the clock runs until every
account is `running` with all its messages stored. Then, idle in IDLE for `--idle` seconds:
the workers' CPU and resident memory, per account. In the two-worker round an API process
(`--role api`) serves longpolls: new mail delivered over LMTP to an account a worker syncs,
timed until `/delta/longpoll` returns it. Last, `serve --role api --workers N` with N = 1
and 2 against the synced database: `GET /messages?limit=20` from 4 client processes.

Writes the numbers into the "Fleet" section of bench/RESULTS.md unless --no-write.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests"), str(ROOT / "tests" / "sync")]

from dovecot import Dovecot  # noqa: E402
from postgres import PostgresServer  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from nylas.testing import LocalEngine  # noqa: E402

START_MARK, END_MARK = "<!-- fleet-results -->", "<!-- /fleet-results -->"
CLIENTS = 4  # processes making API requests
REQUEST_SECONDS = 8.0


def raw(n: int, to: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Bench <bench@example.org>"
    msg["To"] = to
    msg["Subject"] = f"Fleet bench {n}"
    msg["Message-ID"] = f"<fleet-{n}-{to}>"
    msg["Date"] = "Tue, 02 Jan 2024 10:00:00 +0000"
    msg.set_content(f"message {n}\n" + "lorem ipsum dolor sit amet " * 40)
    return msg.as_bytes()


def add_accounts(data_dir: Path, db_url: str, dovecot: Dovecot, users: list[str]) -> list[str]:
    from nylas_engine.config import Settings
    from nylas_engine.context import EngineContext
    from nylas_engine.store.credentials import MailCredentials
    from nylas_engine.sync.accounts import connect_account
    from nylas_engine.sync.imap import ServerSettings

    ctx = EngineContext.open(Settings(data_dir=data_dir, db_url=db_url))
    ids = []
    for email in users:
        settings = ServerSettings(
            email=email,
            imap_host=dovecot.host,
            imap_port=dovecot.imap_port,
            imap_username=email,
            smtp_host=None,
            smtp_port=None,
            smtp_username=email,
            security="plain",
        )
        account = connect_account(
            ctx.db, data_dir, settings, MailCredentials("secret", None), allow_move=True
        )
        ids.append(account.public_id)
    ctx.db.engine.dispose()
    return ids


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def sync_round(
    pg: PostgresServer, dovecot: Dovecot, users: list[str], messages: int, workers: int, idle: float
) -> dict[str, Any]:
    data_dir = Path(tempfile.mkdtemp(prefix="fleet-bench-"))
    db_url = pg.url()
    base = [sys.executable, "-m", "nylas_engine", "--data-dir", str(data_dir), "--db", db_url]
    subprocess.run([*base, "migrate"], check=True, capture_output=True)
    ids = add_accounts(data_dir, db_url, dovecot, users)
    db = create_engine(db_url)
    expected = len(users) * messages
    started = time.monotonic()
    procs = [
        subprocess.Popen(
            [*base, "serve", "--role", "worker"],
            stdout=subprocess.DEVNULL,
            stderr=(data_dir / f"worker{n}.log").open("ab"),
        )
        for n in range(workers)
    ]
    result: dict[str, Any] = {"workers": workers, "accounts": len(users)}
    try:
        while True:
            with db.connect() as conn:
                running = conn.scalar(
                    text("SELECT count(*) FROM accounts WHERE sync_state = 'running'")
                )
                stored = conn.scalar(text("SELECT count(*) FROM messages"))
            if running == len(users) and stored >= expected:
                break
            time.sleep(0.25)
        result["sync_s"] = time.monotonic() - started
        time.sleep(3)  # settle into IDLE
        before = [cpu_seconds(p.pid) for p in procs]
        time.sleep(idle)
        after = [cpu_seconds(p.pid) for p in procs]
        cpu = sum(after) - sum(before)
        result["idle_cpu_ms_per_account_min"] = cpu / len(users) / (idle / 60) * 1000
        result["rss_mib"] = sum(rss_mib(p.pid) for p in procs)
        result["rss_kib_per_account"] = result["rss_mib"] * 1024 / len(users)
        if workers > 1:
            result["new_mail_to_delta_s"] = new_mail_latency(data_dir, db_url, dovecot, users, ids)
            result["api_rps"] = api_rates(data_dir, db_url, ids[0])
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(30)
        db.dispose()
    return result


def new_mail_latency(
    data_dir: Path, db_url: str, dovecot: Dovecot, users: list[str], ids: list[str]
) -> list[float]:
    """New mail to delta, through an API process apart from the workers."""
    times = []
    with LocalEngine(data_dir, db_url=db_url, extra_args=["--role", "api"]) as api:
        for n in range(5):
            account = ids[n * 7 % len(ids)]
            client = httpx.Client(base_url=api.url, auth=(account, ""), timeout=60)
            cursor = client.post("/delta/latest_cursor").json()["cursor"]
            got: dict[str, float] = {}

            def poll(
                client: httpx.Client = client, cursor: str = cursor, got: dict[str, float] = got
            ) -> None:
                while True:
                    reply = client.get("/delta/longpoll", params={"cursor": cursor, "timeout": 30})
                    body = reply.json()
                    if any(d["object"] == "message" for d in body["deltas"]):
                        got["at"] = time.monotonic()
                        return
                    cursor = body.get("cursor_end") or cursor

            waiter = threading.Thread(target=poll)
            waiter.start()
            time.sleep(0.5)
            sent = time.monotonic()
            dovecot.deliver(users[n * 7 % len(users)], raw(10_000 + n, users[0]))
            waiter.join(60)
            client.close()
            times.append(got.get("at", float("inf")) - sent)
    return times


def _hammer(url: str, token: str, seconds: float, out: Any) -> None:
    count = 0
    try:
        with httpx.Client(base_url=url, auth=(token, ""), timeout=30) as client:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                client.get("/messages", params={"limit": 20}).raise_for_status()
                count += 1
    finally:
        out.put(count)  # the parent waits for every client's count


def api_rates(data_dir: Path, db_url: str, token: str) -> dict[int, float]:
    rates = {}
    for processes in (1, 2):
        extra = ["--role", "api", "--workers", str(processes)]
        with LocalEngine(data_dir, db_url=db_url, extra_args=extra) as api:
            time.sleep(2)  # every uvicorn worker up
            out: multiprocessing.Queue[int] = multiprocessing.Queue()
            clients = [
                multiprocessing.Process(target=_hammer, args=(api.url, token, REQUEST_SECONDS, out))
                for _ in range(CLIENTS)
            ]
            for c in clients:
                c.start()
            total = sum(out.get() for _ in clients)
            for c in clients:
                c.join()
            rates[processes] = total / REQUEST_SECONDS
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--accounts", type=int, default=200)
    parser.add_argument("--messages", type=int, default=50)
    parser.add_argument("--idle", type=float, default=20.0, help="seconds measured idle")
    parser.add_argument("--no-write", action="store_true", help="don't update RESULTS.md")
    args = parser.parse_args()
    load_before = os.getloadavg()
    pg = PostgresServer().start()
    dovecot = Dovecot().start()
    try:
        users = [dovecot.new_user()[0] for _ in range(args.accounts)]
        for email in users:
            dovecot.append(email, [raw(n, email) for n in range(args.messages)])
        rounds = [
            sync_round(pg, dovecot, users, args.messages, workers, args.idle) for workers in (1, 2)
        ]
    finally:
        dovecot.stop()
        pg.stop()
    report = render(args, rounds, load_before, os.getloadavg())
    print(report)
    if not args.no_write:
        write(report)


def render(
    args: argparse.Namespace,
    rounds: list[dict[str, Any]],
    load_before: tuple[float, ...],
    load_after: tuple[float, ...],
) -> str:
    one, two = rounds
    lines = [
        f"Measured {time.strftime('%Y-%m-%d')} on CPython {platform.python_version()}, "
        f"{os.cpu_count()} cores, PostgreSQL, local blobs: {args.accounts} accounts of "
        f"{args.messages} messages on one Dovecot; load average "
        f"{' '.join(f'{x:.2f}' for x in load_before)} before, "
        f"{' '.join(f'{x:.2f}' for x in load_after)} after.",
        "",
        "| benchmark | 1 worker | 2 workers | ratio |",
        "|---|---|---|---|",
        f"| until every account `running`, all messages stored | {one['sync_s']:.1f} s | "
        f"{two['sync_s']:.1f} s | **{one['sync_s'] / two['sync_s']:.2f}x** faster |",
        f"| messages stored per second | {args.accounts * args.messages / one['sync_s']:.0f} | "
        f"{args.accounts * args.messages / two['sync_s']:.0f} | |",
        f"| worker RSS per account (idle, all workers summed) | "
        f"{one['rss_kib_per_account']:.0f} KiB | {two['rss_kib_per_account']:.0f} KiB | "
        f"total {one['rss_mib']:.0f} / {two['rss_mib']:.0f} MiB |",
        f"| CPU per account per minute, idle in IDLE | "
        f"{one['idle_cpu_ms_per_account_min']:.1f} ms | "
        f"{two['idle_cpu_ms_per_account_min']:.1f} ms | |",
    ]
    latencies = two["new_mail_to_delta_s"]
    rps = two["api_rps"]
    lines += [
        f"| new mail to `/delta/longpoll` (API process apart from the workers) | | "
        f"median {statistics.median(latencies):.2f} s, max {max(latencies):.2f} s | "
        "target < 2 s |",
        f"| API `GET /messages?limit=20`, {CLIENTS} client processes | "
        f"{rps[1]:.0f} req/s (`--workers 1`) | {rps[2]:.0f} req/s (`--workers 2`) | "
        f"**{rps[2] / rps[1]:.2f}x** |",
    ]
    return "\n".join(lines)


def write(report: str) -> None:
    path = ROOT / "bench" / "RESULTS.md"
    content = path.read_text()
    block = f"{START_MARK}\n{report}\n{END_MARK}"
    if START_MARK in content:
        head, _, rest = content.partition(START_MARK)
        _, _, tail = rest.partition(END_MARK)
        content = head + block + tail
    else:
        section = (
            "## Fleet\n\n`python bench/fleet.py` (issue 16; what it measures is in its "
            "docstring; docs/scaling.md builds the capacity model on it).\n\n" + block + "\n\n"
        )
        head, sep, tail = content.partition("<!-- results -->")
        content = head + section + sep + tail if sep else content + "\n" + section
    path.write_text(content)


if __name__ == "__main__":
    main()
