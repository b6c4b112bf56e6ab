"""List pages against a bare server returning the same bytes (issue 13).

    make bench-api       # or: python bench/api.py [--messages 10000] [--duration 5] [--rounds 2]

Starts `nylas-engine serve` (LocalEngine, SQLite unless `--db postgresql`), imports
`--messages` messages into one account the way import stores them (threads of about three
messages, a quarter unread, one thread of 300 messages as the newest activity and a
one-message thread just before it), then, for each endpoint, records the engine's reply and
serves those very bytes from a bare uvicorn app (bench/bare_app.py). `wrk` (16 connections,
2 threads, `--duration` seconds) then runs against the engine and the bare app alternately,
`--rounds` times; the ratio is engine req/s over bare req/s (medians). Search latency is
measured apart, one client, sequentially, over a few queries: p50 and p99.

With `--baseline DIR` (a checkout of another version, e.g. `git worktree add /tmp/main
main`) a second engine runs that version's `src/` on the same database, measured in the
same alternation: before and after under the same machine load.

With `--write` the table is appended to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import base64
import itertools
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from email import quoprimime
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests"), str(ROOT / "tests" / "engine")]

from nylas.testing import LocalEngine, free_port  # noqa: E402

WORDS = ["budget", "launch", "invoice", "meeting", "travel", "hiring", "roadmap", "review"]
LONG_THREAD = 300
CONNECTIONS = 16


def mime(
    *,
    subject: str,
    from_: str,
    to: str,
    date: int,
    body: str,
    cc: str | None = None,
    in_reply_to: str | None = None,
) -> tuple[bytes, str]:
    """What tests/engine/mailfactory.py `build_mime` makes of these arguments (one-line
    ASCII headers, a plain-text body in quoted-printable), written out directly: the email
    package's header objects took three quarters of seeding 100,000 messages. `seed` checks
    the two agree, Message-ID aside, on every CHECK_EVERY-th message."""
    message_id = make_msgid(idstring=f"b{next(_SEQ)}", domain="test.example")
    lines = [f"Subject: {subject}", f"From: {from_}", f"To: {to}"]
    if cc:
        lines.append(f"Cc: {cc}")
    lines.append("Date: " + format_datetime(datetime.fromtimestamp(date, timezone.utc)))
    lines.append(f"Message-ID: {message_id}")
    if in_reply_to:
        lines += [f"In-Reply-To: {in_reply_to}", f"References: {in_reply_to}"]
    lines += [
        'Content-Type: text/plain; charset="utf-8"',
        "Content-Transfer-Encoding: quoted-printable",
        "MIME-Version: 1.0",
    ]
    # email's policy folds body lines at 78 characters, as here.
    encoded = quoprimime.body_encode(body + "\n", 78, "\n")
    return ("\n".join(lines) + "\n\n" + encoded).encode(), message_id


_SEQ = itertools.count()
_MESSAGE_ID = re.compile(rb"^Message-ID: .*$", re.MULTILINE)
CHECK_EVERY = 997


def _same_as_mailfactory(raw: bytes, **fields: Any) -> None:
    from mailfactory import build_mime

    to = fields.pop("to")
    cc = fields.pop("cc", None)
    expected, _ = build_mime(to=[to], cc=[cc] if cc else None, **fields)
    assert _MESSAGE_ID.sub(b"", raw) == _MESSAGE_ID.sub(b"", expected), (raw, expected)


def seed(db_url: str, blob_dir: Path, messages: int) -> tuple[str, list[str]]:
    """One account holding `messages` messages, stored by the engine's own ingest path
    (`ingest_messages`, as import does) in batches of 500; returns its token and some
    message ids."""
    from mailfactory import build_mime

    from nylas_engine.store.accounts import create_account
    from nylas_engine.store.blobs import BlobStore
    from nylas_engine.store.db import Database
    from nylas_engine.store.mail import NewMessage, ingest_messages
    from nylas_engine.store.models import Message

    db = Database(db_url, run_migrations=False)
    blobs = BlobStore(blob_dir)
    email = "bench@example.com"
    base = 1_700_000_000
    ordinary = messages - LONG_THREAD - 1
    with db.session() as session:
        account = create_account(session, email, name="Bench")
        token = account.public_id
    ids: list[str] = []

    def store(batch: list[NewMessage]) -> None:
        with db.session() as session:
            account = db_account(session, token)
            for pk in ingest_messages(session, blobs, account, batch):
                if len(ids) < 200:
                    ids.append(session.get(Message, pk).public_id)  # type: ignore[union-attr]

    batch: list[NewMessage] = []
    for i in range(ordinary):
        fields: dict[str, Any] = {
            "subject": f"{WORDS[i % len(WORDS)]} {i // 3}",
            "from_": f"Sender {i % 17} <sender{i % 17}@example.org>",
            "to": email,
            "date": base + i * 60,
            "body": f"About the {WORDS[(i * 3) % len(WORDS)]}: message {i} for {email}. " * 20,
        }
        if i % 4 == 0:
            fields["cc"] = f"cc{i % 5}@example.net"
        raw, _ = mime(**fields)
        if i % CHECK_EVERY == 0:
            _same_as_mailfactory(raw, **fields)
        batch.append(NewMessage(raw, unread=i % 4 == 0))
        if len(batch) == 500:
            store(batch)
            batch = []
    top = base + ordinary * 60
    raw, _ = build_mime(subject="A single one", from_="solo@example.org", to=[email], date=top)
    batch.append(NewMessage(raw, unread=False))
    first_id = None
    for n in range(LONG_THREAD):
        fields = {
            "subject": "Re: The long one" if n else "The long one",
            "from_": f"Person {n % 40} <p{n % 40}@example.org>",
            "to": email,
            "date": top + 60 + n * 60,
            "body": f"Reply number {n}. " * 40,
            "in_reply_to": first_id,
        }
        raw, msgid = mime(**fields)
        if n % 100 == 1:
            _same_as_mailfactory(raw, **fields)
        first_id = first_id or msgid
        batch.append(NewMessage(raw, unread=n == LONG_THREAD - 1))
    store(batch)
    db.engine.dispose()
    return token, ids


def db_account(session: Any, token: str) -> Any:
    from sqlalchemy import select

    from nylas_engine.store.models import Account

    return session.scalar(select(Account).where(Account.public_id == token))


def wrk(url: str, token: str, seconds: int) -> tuple[float, int]:
    """(requests per second, non-2xx replies) of a `wrk` run."""
    auth = base64.b64encode(f"{token}:".encode()).decode()
    out = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{CONNECTIONS}",
            f"-d{max(1, round(seconds))}s",
            "-H",
            f"Authorization: Basic {auth}",
        ]
        + [url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return rate, int(bad.group(1)) if bad else 0


def search_latency(
    clients: list[httpx.Client], rounds: int = 60
) -> list[tuple[float, float, float]]:
    """(p50, p99, max) in ms of sequential GET /messages/search over the WORDS, for each
    client (engine), taking turns query by query; the engines' replies must be the same."""
    took: list[list[float]] = [[] for _ in clients]
    for n in range(rounds):
        q = WORDS[n % len(WORDS)] if n % 3 else f"{WORDS[n % len(WORDS)]} {n}"
        replies = set()
        for http, times in zip(clients, took, strict=True):
            started = time.perf_counter()
            reply = http.get("/messages/search", params={"q": q, "limit": 20})
            times.append((time.perf_counter() - started) * 1000)
            assert reply.status_code == 200
            replies.add(reply.content)
        assert len(replies) == 1, f"the engines found different messages for {q!r}"
    result = []
    for times in took:
        times.sort()
        result.append(
            (times[len(times) // 2], times[min(len(times) - 1, int(len(times) * 0.99))], times[-1])
        )
    return result


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def run(args: argparse.Namespace) -> list[tuple[str, str]]:
    if shutil.which("wrk") is None:
        raise SystemExit("bench/api.py needs `wrk` (apt-get install wrk)")
    env = {
        "NYLAS_ENGINE_SYNC": "0",
        "NYLAS_ENGINE_WEBHOOKS": "0",
        "PYTHONPATH": str(ROOT / "src"),
        "NYLAS_ENGINE_MAX_QUEUED": "1000",
    }
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="nylas-api-bench-") as tmp:
        pg = None
        db_url = None
        if args.db == "postgresql":
            from postgres import PostgresServer

            pg = PostgresServer().start()
            db_url = pg.url()
        engine = LocalEngine(Path(tmp) / "engine", db_url=db_url, env=env)
        url = db_url or f"sqlite:///{engine.data_dir / 'engine.db'}"
        bare = baseline = None
        try:
            if args.baseline:
                # Started first: an older version refuses a database a newer one migrated
                # past its newest revision, while the newer one upgrades the older's.
                src = str(Path(args.baseline).resolve() / "src")
                baseline = LocalEngine(
                    Path(tmp) / "baseline", db_url=url, env={**env, "PYTHONPATH": src}
                )
                baseline.start(timeout=300)
            engine.start(timeout=300)
            started = time.monotonic()
            token, ids = seed(url, engine.data_dir / "blobs", args.messages)
            rows.append(
                ("import", f"{args.messages} messages in {time.monotonic() - started:.0f} s")
            )
            http = httpx.Client(base_url=engine.url, auth=(token, ""), timeout=60)
            threads = http.get("/threads", params={"view": "count"}).json()["count"]
            long_thread = http.get("/threads", params={"limit": 1}).json()[0]
            assert len(long_thread["message_ids"]) == LONG_THREAD, "the long thread is newest"
            rows.append(("data", f"{threads} threads; newest has {LONG_THREAD} messages"))
            paths = {
                "GET /threads?limit=100": "/threads?limit=100",
                "GET /threads?in=inbox&unread=true&limit=50": (
                    "/threads?in=inbox&unread=true&limit=50"
                ),
                "GET /threads?view=ids&limit=100": "/threads?view=ids&limit=100",
                "GET /messages?limit=100": "/messages?limit=100",
                "GET /messages/{id}": f"/messages/{ids[len(ids) // 2]}",
                "GET /threads?limit=1 (300-message thread)": "/threads?limit=1",
                "GET /threads?limit=1&offset=1 (1-message thread)": "/threads?limit=1&offset=1",
                "GET /messages/search?q=budget&limit=20": "/messages/search?q=budget&limit=20",
                "GET /threads/search?q=launch&limit=20": "/threads/search?q=launch&limit=20",
            }
            bodies = {}
            for path in paths.values():
                reply = http.get(path)
                assert reply.status_code == 200, (path, reply.text)
                bodies[path] = base64.b64encode(reply.content).decode()
            bodies_file = Path(tmp) / "bodies.json"
            bodies_file.write_text(json.dumps(bodies))
            port = free_port()
            bare = subprocess.Popen(
                [sys.executable, str(ROOT / "bench" / "bare_app.py"), str(bodies_file), str(port)]
            )
            bare_url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    httpx.get(bare_url + "/", timeout=1)
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            clients = {"search latency (1 client)": http}
            if baseline is not None:
                clients["search latency, baseline"] = httpx.Client(
                    base_url=baseline.url, auth=(token, ""), timeout=60
                )
            latencies = search_latency(list(clients.values()))
            for name, (p50, p99, worst) in zip(clients, latencies, strict=True):
                rows.append((name, f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {worst:.1f} ms"))
            print(rows[-len(clients) :], flush=True)
            for name, path in {} if args.search_only else paths.items():
                size = len(base64.b64decode(bodies[path]))
                engine_rates, bare_rates, before_rates, errors = [], [], [], 0
                for _ in range(args.rounds):
                    rate, bad = wrk(engine.url + path, token, args.duration)
                    engine_rates.append(rate)
                    errors += bad
                    if baseline is not None:
                        rate, bad = wrk(baseline.url + path, token, args.duration)
                        before_rates.append(rate)
                        errors += bad
                    rate, _ = wrk(bare_url + path, token, args.duration)
                    bare_rates.append(rate)
                mine, theirs = statistics.median(engine_rates), statistics.median(bare_rates)
                note = f" ({errors} non-2xx)" if errors else ""
                if before_rates:
                    before = statistics.median(before_rates)
                    note += f"; baseline {before:,.0f} req/s (ratio {before / theirs:.3f})"
                rows.append(
                    (
                        name,
                        f"{mine:,.0f} vs {theirs:,.0f} req/s, **ratio {mine / theirs:.3f}**; "
                        f"{size / 1024:.1f} KiB reply{note}",
                    )
                )
                print(rows[-1], flush=True)
        finally:
            if bare is not None:
                bare.terminate()
                bare.wait()
            if baseline is not None:
                baseline.stop()
            engine.stop()
            if pg is not None:
                pg.stop()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--write", action="store_true", help="append to bench/RESULTS.md")
    parser.add_argument(
        "--search-only", action="store_true", help="search latency only (no wrk runs)"
    )
    parser.add_argument("--baseline", help="a checkout of another version to measure alongside")
    args = parser.parse_args()
    before = load_average()
    rows = run(args)
    after = load_average()
    header = (
        f"Measured {time.strftime('%Y-%m-%d')} on CPython {platform.python_version()}, "
        f"{os.cpu_count()} cores shared with other jobs, {args.db}, {args.messages} messages, "
        f"wrk -c{CONNECTIONS} -t2 -d{args.duration}s x {args.rounds} rounds alternating"
        f"{' (with a baseline engine: ' + args.baseline + ')' if args.baseline else ''}; "
        f"load average {before} before, {after} after."
    )
    table = "\n".join(["| benchmark | result |", "|---|---|", *(f"| {a} | {b} |" for a, b in rows)])
    print(header)
    print(table)
    if args.write:
        with open(ROOT / "bench" / "RESULTS.md", "a") as f:
            f.write(f"\n<!-- api-results {args.db} -->\n{header}\n\n{table}\n")


if __name__ == "__main__":
    main()
