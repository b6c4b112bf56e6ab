"""Load: many concurrent clients mixing reads, writes and sends against a live engine.

    make bench-load      # or: python bench/load.py [--clients 100] [--duration 60] [--db both]

For each database (SQLite, then PostgreSQL on a throwaway cluster from tests/postgres.py) it
starts `nylas-engine serve` (LocalEngine) with a real SMTP sink (tests/engine/smtp_listener.py)
as every account's SMTP server, seeds a few accounts with mail, and runs the same closed-loop
workload twice: a baseline at `--baseline-clients` (10) and the run under test at `--clients`
(100), each for `--duration` seconds. Every client is its own HTTP connection pool with no
retries, so each failure is counted: a 503 is "shed" (the engine said it was busy, with
Retry-After, which the client then honours), any other 5xx or a transport error is an
"error", and a request that gets no answer within 30 s is a "timeout".

Afterwards it checks what the clients were told: every draft whose create returned 200 must
exist with the subject of its last acknowledged update, and the SMTP sink must have received
exactly as many messages as there were acknowledged sends (a send that ended in an error or a
timeout is "unknown" and widens the allowed range instead).

`--engine-src DIR` runs the engine from another checkout (`DIR/src`), for before/after runs.
Prints a table and, with `--write`, appends it to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests"), str(ROOT / "tests" / "engine")]

from nylas.testing import LocalEngine  # noqa: E402

CLIENT_TIMEOUT = 30.0
ACCOUNTS = 10
MESSAGES_PER_ACCOUNT = 200
WORDS = ["budget", "meeting", "invoice", "holiday", "report", "launch", "review", "travel"]

# Operation weights: 60% reads, 30% writes, 10% sends.
OPERATIONS = {
    "list_threads": 15,
    "list_messages": 15,
    "get_message": 20,
    "search": 10,
    "create_draft": 10,
    "update_draft": 10,
    "flag_message": 10,
    "send": 10,
}


# ------------------------------------------------------------------------------ set-up


@dataclass
class Account:
    token: str
    email: str
    message_ids: list[str]


def seed(db_url: str, blob_dir: Path, smtp_port: int) -> list[Account]:
    """ACCOUNTS accounts sending through the sink, each with MESSAGES_PER_ACCOUNT messages
    stored the way import stores them (so they are threaded and searchable)."""
    from mailfactory import build_mime

    from nylas_engine.store.accounts import create_account
    from nylas_engine.store.blobs import BlobStore
    from nylas_engine.store.db import Database
    from nylas_engine.store.mail import NewMessage, ingest_messages
    from nylas_engine.store.models import Message

    db = Database(db_url, run_migrations=False)
    blobs = BlobStore(blob_dir)
    accounts = []
    for a in range(ACCOUNTS):
        email = f"load{a}@example.com"
        with db.session() as session:
            account = create_account(
                session, email, name=f"Load {a}", smtp_host="127.0.0.1", smtp_port=smtp_port
            )
            batch = []
            for i in range(MESSAGES_PER_ACCOUNT):
                raw, _ = build_mime(
                    subject=f"{WORDS[i % len(WORDS)]} {i // 3}",
                    from_=f"Sender {i % 17} <sender{i % 17}@example.org>",
                    to=[email],
                    date=1_700_000_000 + i * 60,
                    body=f"About the {WORDS[(i * 3) % len(WORDS)]}: message {i} for {email}.",
                )
                batch.append(NewMessage(raw))
            ids = ingest_messages(session, blobs, account, batch)
            session.flush()
            public = [session.get(Message, pk).public_id for pk in ids]  # type: ignore[union-attr]
            accounts.append(Account(account.public_id, email, public))
    db.engine.dispose()
    return accounts


@contextlib.contextmanager
def database(kind: str) -> Iterator[str | None]:
    """None (the engine's own SQLite file) or the URL of a new PostgreSQL database."""
    if kind == "sqlite":
        yield None
        return
    from postgres import PostgresServer

    server = PostgresServer().start()
    try:
        yield server.url()
    finally:
        server.stop()


# ------------------------------------------------------------------------------ the clients


@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)
    by_kind: dict[str, list[float]] = field(default_factory=dict)  # operation -> latencies
    outcomes: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    by_operation: Counter[str] = field(default_factory=Counter)
    error_samples: list[str] = field(default_factory=list)
    sends_acked: int = 0
    sends_unknown: int = 0
    # draft id -> subjects it may have now: the last acknowledged one, plus any whose
    # update ended without an answer
    drafts: dict[str, tuple[str, set[str]]] = field(default_factory=dict)
    draft_token: dict[str, str] = field(default_factory=dict)


class Client:
    def __init__(self, n: int, url: str, account: Account, stats: Stats) -> None:
        self.rng = random.Random(n)
        self.account = account
        self.stats = stats
        self.http = httpx.AsyncClient(
            base_url=url, auth=(account.token, ""), timeout=CLIENT_TIMEOUT
        )
        self.mine: dict[str, int] = {}  # this client's drafts: id -> version

    async def call(self, op: str, method: str, path: str, **kwargs: Any) -> httpx.Response | None:
        """The reply, or None for a timeout or a transport error (counted here)."""
        if method != "GET":  # as the SDK does: one Idempotency-Key per write
            kwargs["headers"] = {"Idempotency-Key": uuid.uuid4().hex}
        start = time.perf_counter()
        try:
            reply = await self.http.request(method, path, **kwargs)
        except httpx.TimeoutException:
            self.stats.outcomes["timeout"] += 1
            return None
        except httpx.TransportError as exc:
            self.stats.outcomes["error"] += 1
            self._sample(f"{op}: {type(exc).__name__}: {exc}")
            return None
        elapsed = time.perf_counter() - start
        self.stats.latencies.append(elapsed)
        self.stats.by_kind.setdefault(op, []).append(elapsed)
        self.stats.statuses[reply.status_code] += 1
        self.stats.by_operation[op] += 1
        if reply.status_code == 503:
            self.stats.outcomes["shed"] += 1
            await asyncio.sleep(float(reply.headers.get("retry-after", "1")))
        elif reply.status_code >= 500:
            self.stats.outcomes["error"] += 1
            self._sample(f"{op}: {reply.status_code} {reply.text[:200]}")
        elif reply.status_code >= 400:
            self.stats.outcomes["rejected"] += 1
            self._sample(f"{op}: {reply.status_code} {reply.text[:200]}")
        else:
            self.stats.outcomes["ok"] += 1
        return reply

    def _sample(self, text: str) -> None:
        if len(self.stats.error_samples) < 20:
            self.stats.error_samples.append(text)

    async def run(self, deadline: float) -> None:
        names, weights = list(OPERATIONS), list(OPERATIONS.values())
        async with self.http:
            while time.monotonic() < deadline:
                op = self.rng.choices(names, weights)[0]
                await getattr(self, op)()

    # ---- reads
    async def list_threads(self) -> None:
        await self.call("list_threads", "GET", f"/threads?limit=20&offset={self.rng.randrange(50)}")

    async def list_messages(self) -> None:
        await self.call("list_messages", "GET", "/messages?limit=20&in=inbox")

    async def get_message(self) -> None:
        message_id = self.rng.choice(self.account.message_ids)
        await self.call("get_message", "GET", f"/messages/{message_id}")

    async def search(self) -> None:
        word = self.rng.choice(WORDS)
        await self.call("search", "GET", f"/messages/search?q={word}&limit=10")

    # ---- writes
    async def create_draft(self) -> None:
        subject = f"draft {uuid.uuid4().hex[:12]}"
        body = {"subject": subject, "to": [{"email": "someone@example.org"}], "body": "x" * 200}
        reply = await self.call("create_draft", "POST", "/drafts", json=body)
        if reply is not None and reply.status_code == 200:
            draft = reply.json()
            self.mine[draft["id"]] = draft["version"]
            self.stats.drafts[draft["id"]] = (subject, set())
            self.stats.draft_token[draft["id"]] = self.account.token

    async def update_draft(self) -> None:
        if not self.mine:
            await self.create_draft()
            return
        draft_id = self.rng.choice(list(self.mine))
        subject = f"updated {uuid.uuid4().hex[:12]}"
        body = {"subject": subject, "version": self.mine[draft_id]}
        reply = await self.call("update_draft", "PUT", f"/drafts/{draft_id}", json=body)
        acked, maybe = self.stats.drafts[draft_id]
        if reply is not None and reply.status_code == 200:
            self.mine[draft_id] = reply.json()["version"]
            self.stats.drafts[draft_id] = (subject, set())
        elif reply is None or reply.status_code >= 500:  # may or may not have happened
            self.stats.drafts[draft_id] = (acked, maybe | {subject})
            del self.mine[draft_id]  # its version is unknown now: leave it alone

    async def flag_message(self) -> None:
        message_id = self.rng.choice(self.account.message_ids)
        change = self.rng.choice([{"unread": True}, {"unread": False}, {"starred": True}])
        await self.call("flag_message", "PUT", f"/messages/{message_id}", json=change)

    async def send(self) -> None:
        body = {
            "subject": f"sent {uuid.uuid4().hex[:12]}",
            "to": [{"email": "rcpt@example.org"}],
            "body": "Hello from the load benchmark.",
        }
        reply = await self.call("send", "POST", "/send", json=body)
        if reply is not None and reply.status_code == 200:
            self.stats.sends_acked += 1
        elif reply is None or reply.status_code >= 500:
            self.stats.sends_unknown += 1


async def drive(url: str, accounts: list[Account], clients: int, duration: float) -> Stats:
    stats = Stats()
    deadline = time.monotonic() + duration
    workers = [Client(n, url, accounts[n % len(accounts)], stats) for n in range(clients)]
    await asyncio.gather(*(w.run(deadline) for w in workers))
    return stats


# ------------------------------------------------------------------------------ verification


def verify(url: str, stats: Stats, sink_before: int, sink_after: int) -> list[str]:
    """What the clients were told, checked against the engine and the sink."""
    problems = []
    with httpx.Client(base_url=url, timeout=CLIENT_TIMEOUT) as http:
        for draft_id, (acked, maybe) in stats.drafts.items():
            reply = http.get(f"/drafts/{draft_id}", auth=(stats.draft_token[draft_id], ""))
            if reply.status_code != 200:
                problems.append(f"draft {draft_id}: acknowledged, but GET says {reply.status_code}")
            elif reply.json()["subject"] not in {acked, *maybe}:
                problems.append(
                    f"draft {draft_id}: subject {reply.json()['subject']!r}, not {acked!r}"
                )
    received = sink_after - sink_before
    if not stats.sends_acked <= received <= stats.sends_acked + stats.sends_unknown:
        problems.append(
            f"SMTP sink received {received} messages for {stats.sends_acked} acknowledged sends "
            f"(+{stats.sends_unknown} unknown)"
        )
    return problems


# ------------------------------------------------------------------------------ one database


@dataclass
class Row:
    db: str
    clients: int
    duration: float
    requests: int
    rate: float
    p50: float
    p95: float
    p99: float
    ok: int
    shed: int
    errors: int
    timeouts: int
    rejected: int
    acked_writes: int
    sends: str
    verified: str
    load: str


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def per_operation(stats: Stats) -> str:
    return ", ".join(
        f"{op} {percentile(times, 50) * 1000:.0f}/{percentile(times, 99) * 1000:.0f} ms"
        for op, times in sorted(stats.by_kind.items())
    )


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def run_database(kind: str, args: argparse.Namespace) -> list[Row]:
    from smtp_listener import SmtpListener

    rows = []
    env = {
        "NYLAS_ENGINE_SYNC": "0",
        "NYLAS_ENGINE_WEBHOOKS": "0",
        # this checkout's engine (or --engine-src's), whatever is installed
        "PYTHONPATH": str(Path(args.engine_src or ROOT) / "src"),
    }
    with (
        tempfile.TemporaryDirectory(prefix="nylas-load-") as tmp,
        database(kind) as db_url,
        SmtpListener() as sink,
    ):
        engine = LocalEngine(Path(tmp) / "engine", db_url=db_url, env=env)
        engine.start(timeout=60)
        try:
            url = db_url or f"sqlite:///{engine.data_dir / 'engine.db'}"
            accounts = seed(url, engine.data_dir / "blobs", sink.port)
            for clients in (args.baseline_clients, args.clients):
                if not clients:
                    continue
                before = len(sink.messages)
                load_before = load_average()
                started = time.monotonic()
                stats = asyncio.run(drive(engine.url, accounts, clients, args.duration))
                elapsed = time.monotonic() - started
                time.sleep(1.0)  # let the last SMTP transactions land
                problems = verify(engine.url, stats, before, len(sink.messages))
                requests = sum(stats.statuses.values()) + stats.outcomes["timeout"]
                row = Row(
                    db=kind,
                    clients=clients,
                    duration=elapsed,
                    requests=requests,
                    rate=requests / elapsed,
                    p50=percentile(stats.latencies, 50),
                    p95=percentile(stats.latencies, 95),
                    p99=percentile(stats.latencies, 99),
                    ok=stats.outcomes["ok"],
                    shed=stats.outcomes["shed"],
                    errors=stats.outcomes["error"],
                    timeouts=stats.outcomes["timeout"],
                    rejected=stats.outcomes["rejected"],
                    acked_writes=len(stats.drafts),
                    sends=f"{stats.sends_acked} acked / {len(sink.messages) - before} in sink",
                    verified="ok" if not problems else f"{len(problems)} problems",
                    load=f"{load_before} -> {load_average()}",
                )
                rows.append(row)
                print(format_row(row), flush=True)
                print("   p50/p99 by operation: " + per_operation(stats), flush=True)
                for line in stats.error_samples[:10]:
                    print("   error:", line, flush=True)
                for line in problems[:10]:
                    print("   problem:", line, flush=True)
        finally:
            engine.close()
    return rows


# ------------------------------------------------------------------------------ report

HEADER = (
    "| database | clients | requests | req/s | p50 | p95 | p99 | errors | timeouts | shed (503) "
    "| 4xx | drafts checked | sends acked / in sink | verified | load avg before -> after |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def format_row(row: Row) -> str:
    def ms(value: float) -> str:
        return f"{value * 1000:.0f} ms"

    return (
        f"| {row.db} | {row.clients} | {row.requests} | {row.rate:.1f} | {ms(row.p50)} "
        f"| {ms(row.p95)} | {ms(row.p99)} | {row.errors} | {row.timeouts} | {row.shed} "
        f"| {row.rejected} | {row.acked_writes} | {row.sends} | {row.verified} | {row.load} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--baseline-clients", type=int, default=10)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--engine-src", help="run the engine from DIR/src (before/after runs)")
    parser.add_argument("--write", action="store_true", help="append the table to RESULTS.md")
    args = parser.parse_args()
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    print(
        f"{platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} cores, load {load_average()}",
        flush=True,
    )
    print(HEADER, flush=True)
    rows = [row for kind in kinds for row in run_database(kind, args)]
    if args.write:
        write_results(rows, args)


def write_results(rows: list[Row], args: argparse.Namespace) -> None:
    results = ROOT / "bench" / "RESULTS.md"
    when = time.strftime("%Y-%m-%d")
    source = f" engine from {args.engine_src}" if args.engine_src else ""
    table = "\n".join([HEADER, *(format_row(r) for r in rows)])
    block = (
        f"\nMeasured {when} on CPython {platform.python_version()}, {os.cpu_count()} cores, "
        f"{args.duration:.0f} s per run{source}:\n\n{table}\n"
    )
    with results.open("a") as out:
        out.write(block)


if __name__ == "__main__":
    main()
