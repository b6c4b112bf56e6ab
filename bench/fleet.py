"""Fleet benchmark (issue 16): sync throughput of `serve --role worker` with one worker and
with two, API requests per second with one API process and with two, on a real PostgreSQL
and a real Dovecot.

    python bench/fleet.py [--accounts 500] [--messages 50] [--rounds 1,2] [--no-write]
        [--round-env 'PYTHONPATH=/path/to/main/src;'] [--round-timeout 600]

`--round-env` gives each round's workers environment variables of their own (`;` between
rounds, `,` between variables): an A/B of a setting, or of another checkout's engine
(`PYTHONPATH` of its src), on the same Dovecot in one run. A round that has not synced after
`--round-timeout` seconds is reported so (its sync states) and the run goes on.

For each worker count of `--rounds`, in a fresh database: the accounts are added (servers
verified, as `accounts add --imap-host` does), then the workers start and the clock runs
until every account is `running` with all its messages stored. Then, idle in IDLE for
`--idle` seconds: the workers' CPU and resident memory, per account. In the last round an
API process (`--role api`) apart from the workers serves: new mail delivered over LMTP to
an account a worker syncs, timed until `/delta/longpoll` returns it; and a flag set through
the API, timed until the IMAP server shows it (the worker's write-back, woken by the delta
log's notification). Last, with the workers stopped, `serve --role api --workers N` with
N = 1 and 2 against the synced database: `GET /messages?limit=20` from wrk (one thread,
`--connections`, 8 by default), with the CPU time each party used meanwhile (the engine's
processes, PostgreSQL, wrk), since all of them share the machine's cores.

Writes the numbers into the "Fleet" section of bench/RESULTS.md unless --no-write.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
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
CONNECTIONS = 8  # wrk's open connections
REQUEST_SECONDS = 10.0
SAMPLES = 5  # latencies measured


class ManyUsersDovecot(Dovecot):
    """Dovecot runs one imap process per connection, 100 at most by default: one per
    account here."""

    def _config(self) -> str:
        # Dovecot hears of new mail through inotify, one instance per IDLE, at most
        # fs.inotify.max_user_instances (128 by default, shared by every Dovecot of the
        # machine's user); past it, it looks every mailbox_idle_check_interval (30 s by
        # default): most of the 500 accounts' new mail then reached IDLE up to 30 s late,
        # which measured Dovecot, not the engine (bench/RESULTS.md, Fleet).
        return super()._config() + (
            "default_process_limit = 1200\ndefault_client_limit = 5000\n"
            "mailbox_idle_check_interval = 1 secs\n"
        )


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

    ctx = EngineContext.open(Settings(data_dir=data_dir, db_url=db_url))
    ids = []
    for email in users:
        settings = dovecot.server_settings(email)
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


def owner_changes(db: Any) -> int:
    """Changes of owner of the account leases so far: each takeover or hand-over adds one to
    a lease's generation (the first claim makes generation 1)."""
    with db.connect() as conn:
        extra = conn.scalar(
            text(
                "SELECT coalesce(sum(greatest(generation - 1, 0)), 0) FROM leases"
                " WHERE name LIKE 'account:%'"
            )
        )
    return int(extra)


def sync_states(db: Any) -> dict[str, int]:
    with db.connect() as conn:
        rows = conn.execute(text("SELECT sync_state, count(*) FROM accounts GROUP BY 1"))
        return {str(state): int(n) for state, n in rows}


def wait_synced(db: Any, accounts: int, expected: int, started: float, limit: float) -> float:
    """Seconds until every account is `running` with all its messages stored; inf after
    `limit` seconds (the round goes on: its other numbers still say something). Progress on
    stderr every 10 s: accounts per sync state, messages stored, changes of owner."""
    shown = started
    while True:
        with db.connect() as conn:
            running = conn.scalar(
                text("SELECT count(*) FROM accounts WHERE sync_state = 'running'")
            )
            stored = conn.scalar(text("SELECT count(*) FROM messages"))
        now = time.monotonic()
        if running == accounts and stored >= expected:
            return now - started
        if now - started > limit:
            print(f"not synced after {limit:.0f} s: {sync_states(db)}", file=sys.stderr)
            return float("inf")
        if now - shown >= 10:
            shown = now
            print(
                f"{now - started:.0f}s {sync_states(db)} stored={stored}/{expected} "
                f"moves={owner_changes(db)}",
                file=sys.stderr,
                flush=True,
            )
        time.sleep(0.25)


def sync_round(
    pg: PostgresServer,
    dovecot: Dovecot,
    users: list[str],
    messages: int,
    workers: int,
    idle: float,
    env: dict[str, str],
    round_no: int = 0,
    round_timeout: float = 600.0,
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
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=(data_dir / f"worker{n}.log").open("ab"),
        )
        for n in range(workers)
    ]
    result: dict[str, Any] = {"workers": workers, "accounts": len(users), "env": env}
    try:
        result["sync_s"] = wait_synced(db, len(users), expected, started, round_timeout)
        result["states"] = sync_states(db)
        result["moves_sync"] = owner_changes(db)
        time.sleep(3)  # settle into IDLE
        moved = owner_changes(db)
        before = [cpu_seconds(p.pid) for p in procs]
        time.sleep(idle)
        after = [cpu_seconds(p.pid) for p in procs]
        result["moves_idle"] = owner_changes(db) - moved
        cpu = sum(after) - sum(before)
        result["idle_cpu_ms_per_account_min"] = cpu / len(users) / (idle / 60) * 1000
        result["rss_mib"] = sum(rss_mib(p.pid) for p in procs)
        result["rss_kib_per_account"] = result["rss_mib"] * 1024 / len(users)
        result["idle_watchers"] = idle_watchers(dovecot)
        with LocalEngine(data_dir, db_url=db_url, extra_args=["--role", "api"]) as api:
            result["new_mail_to_delta_s"] = new_mail_latency(api.url, dovecot, users, ids, round_no)
            result["api_to_server_s"] = writeback_latency(api.url, dovecot, users, ids, round_no)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(30)
        db.dispose()
    result["api_args"] = (data_dir, db_url, ids[0])  # measured once Dovecot is stopped too
    return result


def new_mail_latency(
    url: str, dovecot: Dovecot, users: list[str], ids: list[str], round_no: int
) -> list[float]:
    """New mail to delta, through an API process apart from the workers."""
    times = []
    for n in range(SAMPLES):
        account = ids[n * 7 % len(ids)]
        client = httpx.Client(base_url=url, auth=(account, ""), timeout=60)
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
        dovecot.deliver(users[n * 7 % len(users)], raw(10_000 + 100 * round_no + n, users[0]))
        waiter.join(60)
        client.close()
        times.append(got.get("at", float("inf")) - sent)
    return times


def writeback_latency(
    url: str, dovecot: Dovecot, users: list[str], ids: list[str], round_no: int
) -> list[float]:
    """A flag set through an API process, until the IMAP server shows it: the worker that
    owns the account (another process) must hear of the change and write it back."""
    times = []
    for n in range(SAMPLES):
        user, account = users[n * 11 % len(users)], ids[n * 11 % len(ids)]
        with httpx.Client(base_url=url, auth=(account, ""), timeout=60) as client:
            message = client.get(
                "/messages", params={"subject": f"Fleet bench {3 + round_no}"}
            ).json()[0]
            imap = dovecot.client(user)
            try:
                imap.select_folder("INBOX", readonly=True)
                (uid,) = imap.search(["HEADER", "Message-ID", f"<fleet-{3 + round_no}-{user}>"])
                time.sleep(0.5)
                sent = time.monotonic()
                client.put(f"/messages/{message['id']}", json={"starred": True})
                deadline = sent + 60
                while b"\\Flagged" not in imap.get_flags([uid])[uid]:
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.02)
                times.append(time.monotonic() - sent)
            finally:
                imap.logout()
    return times


def process_tree(root: int) -> list[int]:
    """`root` and its descendants (uvicorn's workers, PostgreSQL's backends)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat[1])
    tree, grew = {root}, True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= more
        grew = bool(more)
    return sorted(tree)


def idle_watchers(dovecot: Dovecot) -> tuple[int, int]:
    """Dovecot's imap processes, and how many of them hold an inotify instance (what makes
    IDLE report new mail at once; the others look every mailbox_idle_check_interval).
    Instances are limited per user (fs.inotify.max_user_instances, 128 by default)."""
    imap = watching = 0
    for pid in process_tree(dovecot._pid or 0):
        with contextlib.suppress(OSError):
            if Path(f"/proc/{pid}/comm").read_text().strip() != "imap":
                continue
            imap += 1
            fds = Path(f"/proc/{pid}/fd").iterdir()
            watching += any(os.readlink(fd) == "anon_inode:inotify" for fd in fds)
    return imap, watching


def tree_cpu(root: int) -> dict[int, float]:
    cpu = {}
    for pid in process_tree(root):
        with contextlib.suppress(OSError):  # ended meanwhile
            cpu[pid] = cpu_seconds(pid)
    return cpu


def used(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds used between two looks (processes started meanwhile count whole)."""
    return sum(t - before.get(pid, 0.0) for pid, t in after.items())


def machine_busy() -> float:
    """CPU seconds every process of the machine has used so far (/proc/stat: all but idle
    and iowait)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def busy_cores(seconds: float) -> float:
    start, t0 = machine_busy(), time.monotonic()
    time.sleep(seconds)
    return (machine_busy() - start) / (time.monotonic() - t0)


def wait_quiet(limit: float = 60.0, cores: float = 0.3) -> float:
    """Wait (up to `limit` seconds) until the machine uses less than `cores` of CPU over 2 s:
    the workers just stopped, PostgreSQL may be writing back. The 1-minute load average is
    no use here: it still counts the workers' threads of a minute ago. Returns the cores
    last seen busy."""
    deadline = time.monotonic() + limit
    while (busy := busy_cores(2.0)) >= cores and time.monotonic() < deadline:
        pass
    return busy


def api_rates(data_dir: Path, db_url: str, token: str, pg: PostgresServer) -> dict[int, Any]:
    """Requests per second from wrk, and who used the CPU meanwhile (the engine's processes,
    PostgreSQL, wrk, and everything else on the machine)."""
    import base64

    with create_engine(db_url, isolation_level="AUTOCOMMIT").connect() as conn:
        conn.execute(text("VACUUM ANALYZE"))  # not autovacuum during the runs
        conn.execute(text("CHECKPOINT"))
    postmaster = int((pg.data / "postmaster.pid").read_text().split()[0])
    auth = base64.b64encode(f"{token}:".encode()).decode()
    rates: dict[int, Any] = {}
    for processes in (1, 2):
        extra = ["--role", "api", "--workers", str(processes)]
        with LocalEngine(data_dir, db_url=db_url, extra_args=extra) as api:
            time.sleep(3)  # every uvicorn worker up
            assert api.process is not None
            engine_pid = api.process.pid
            wrk = [
                "wrk", "-t1", f"-c{CONNECTIONS}", f"-d{REQUEST_SECONDS:.0f}s",
                "-H", f"Authorization: Basic {auth}", f"{api.url}/messages?limit=20",
            ]  # fmt: skip
            subprocess.run([*wrk[:3], "-d2s", *wrk[4:]], capture_output=True)  # warm-up
            quiet = wait_quiet()
            load = os.getloadavg()[0]
            engine0, pg0 = tree_cpu(engine_pid), tree_cpu(postmaster)
            started, before, machine0 = time.monotonic(), os.times(), machine_busy()
            out = subprocess.run(wrk, capture_output=True, text=True).stdout
            wall, after, machine1 = time.monotonic() - started, os.times(), machine_busy()
            engine1, pg1 = tree_cpu(engine_pid), tree_cpu(postmaster)
            wrk_cpu = (after.children_user + after.children_system) - (
                before.children_user + before.children_system
            )
            line = next(x for x in out.splitlines() if x.startswith("Requests/sec:"))
            errors = [x.strip() for x in out.splitlines() if "Non-2xx" in x or "Socket errors" in x]
            ours = used(engine0, engine1) + used(pg0, pg1) + wrk_cpu
            rates[processes] = {
                "rps": float(line.split()[1]),
                "errors": errors,
                "load": load,
                "busy_before": quiet,
                "cores_engine": used(engine0, engine1) / wall,
                "cores_postgres": used(pg0, pg1) / wall,
                "cores_wrk": wrk_cpu / wall,
                "cores_others": max(0.0, (machine1 - machine0) - ours) / wall,
            }
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--accounts", type=int, default=500)
    parser.add_argument("--messages", type=int, default=50)
    parser.add_argument("--rounds", default="1,2", help="worker counts to sync with, in order")
    parser.add_argument("--idle", type=float, default=60.0, help="seconds measured idle")
    parser.add_argument("--no-write", action="store_true", help="don't update RESULTS.md")
    parser.add_argument("--round-env", help="VAR=VALUE,... per round, rounds split by ;")
    parser.add_argument(
        "--round-timeout", type=float, default=600.0, help="seconds a round may take to sync"
    )
    parser.add_argument("--connections", type=int, default=8, help="wrk's open connections")
    args = parser.parse_args()
    global CONNECTIONS
    CONNECTIONS = args.connections
    counts = [int(n) for n in args.rounds.split(",")]
    load_before = os.getloadavg()
    pg = PostgresServer().start()
    dovecot = ManyUsersDovecot().start()
    try:
        users = [dovecot.new_user()[0] for _ in range(args.accounts)]
        with ThreadPoolExecutor(8) as pool:  # one IMAP connection each: minutes one by one
            list(
                pool.map(
                    lambda e: dovecot.append(e, [raw(n, e) for n in range(args.messages)]), users
                )
            )
        envs = [
            dict(pair.split("=", 1) for pair in part.split(",") if pair)
            for part in (args.round_env or "").split(";")
        ]
        rounds = [
            sync_round(
                pg,
                dovecot,
                users,
                args.messages,
                n,
                args.idle,
                envs[i] if i < len(envs) else {},
                i,
                args.round_timeout,
            )
            for i, n in enumerate(counts)
        ]
        dovecot.stop()  # its 500 imap processes must not share the cores with the API's run
        rounds[-1]["api"] = api_rates(*rounds[-1]["api_args"], pg)
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
    def row(what: str, cell: Any, note: str = "") -> str:
        return f"| {what} | " + " | ".join(cell(r) for r in rounds) + f" | {note} |"

    total = args.accounts * args.messages
    lines = [
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on CPython "
        f"{platform.python_version()}, {os.cpu_count()} cores, PostgreSQL, local blobs: "
        f"{args.accounts} accounts of {args.messages} messages on one Dovecot; load average "
        f"{' '.join(f'{x:.2f}' for x in load_before)} before, "
        f"{' '.join(f'{x:.2f}' for x in load_after)} after.",
        "",
        "| benchmark | "
        + " | ".join(
            f"{r['workers']} worker(s)" + "".join(f", {k}={v}" for k, v in r["env"].items())
            for r in rounds
        )
        + " | notes |",
        "|---|" + "---|" * len(rounds) + "---|",
        row(
            "until every account `running`, all messages stored",
            lambda r: (
                f"{r['sync_s']:.1f} s"
                if r["sync_s"] != float("inf")
                else f"not after {args.round_timeout:.0f} s: {r['states']}"
            ),
        ),
        row("messages stored per second", lambda r: f"{total / r['sync_s']:.0f}"),
        row(
            "worker RSS per account (idle, all workers summed)",
            lambda r: f"{r['rss_kib_per_account']:.0f} KiB (total {r['rss_mib']:.0f} MiB)",
        ),
        row(
            f"CPU per account per minute, idle in IDLE ({args.idle:.0f} s measured)",
            lambda r: f"{r['idle_cpu_ms_per_account_min']:.1f} ms",
        ),
        row(
            "accounts that changed worker: during the initial sync / while idle",
            lambda r: f"{r['moves_sync']} / {r['moves_idle']}",
            "0 / 0 in a steady fleet",
        ),
    ]
    lines.append(
        row(
            "Dovecot imap processes / those with an inotify instance (IDLE told at once)",
            lambda r: "{} / {}".format(*r["idle_watchers"]),
            "the rest look every mailbox_idle_check_interval",
        )
    )
    for key, what in (
        (
            "new_mail_to_delta_s",
            "new mail to `/delta/longpoll` (API process apart from workers)",
        ),
        ("api_to_server_s", "flag set through the API process until the IMAP server shows it"),
    ):
        lines.append(
            row(
                what,
                lambda r, key=key: (
                    f"median {statistics.median(r[key]):.2f} s, "
                    f"max {max(r[key]):.2f} s ({len(r[key])} samples)"
                ),
                "target < 2 s",
            )
        )
    lines += [
        "",
        f"API `GET /messages?limit=20` from wrk (1 thread, {CONNECTIONS} connections, "
        f"{REQUEST_SECONDS:.0f} s each), workers and Dovecot stopped, database vacuumed, "
        "after waiting (up to 60 s) for the machine to use < 0.3 cores; CPU in cores used "
        "during the run (others: every other process of the machine):",
        "",
        "| `serve --role api` | req/s | engine | PostgreSQL | wrk | others | req/s per engine "
        "core | machine busy before | load average (1 min) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    api = rounds[-1]["api"]
    for n in (1, 2):
        a = api[n]
        errors = f" ({'; '.join(a['errors'])})" if a["errors"] else ""
        lines.append(
            f"| `--workers {n}` | {a['rps']:.0f}{errors} | {a['cores_engine']:.2f} | "
            f"{a['cores_postgres']:.2f} | {a['cores_wrk']:.2f} | {a['cores_others']:.2f} | "
            f"{a['rps'] / max(a['cores_engine'], 0.01):.0f} | {a['busy_before']:.2f} cores | "
            f"{a['load']:.1f} |"
        )
    lines += ["", f"`--workers 2` / `--workers 1`: **{api[2]['rps'] / api[1]['rps']:.2f}x**."]
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
