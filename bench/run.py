"""SDK benchmarks against a live engine, with baselines measured in the same run.

    make bench            # or: python bench/run.py [--messages 10000] [--file-mib 1024]

Prints a table and rewrites the numbers section of bench/RESULTS.md. Measures:
* listing every message: a raw httpx loop making the same requests as this SDK (its page
  size), this SDK, and the official `nylas-legacy` 5.15 (which pages 50 at a time);
* downloading a large file to disk with `download_to`: wall time and the peak RSS of the
  process doing it (a fresh subprocess, so the number is the download's own);
* `import nylas`, in a fresh interpreter, minus the interpreter's own start-up.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]

from nylas.testing import LocalEngine  # noqa: E402


def seed_messages(engine: LocalEngine, count: int) -> str:
    """An account with `count` messages in threads of ~4, written straight into the store."""
    from nylas_engine.store.accounts import create_account
    from nylas_engine.store.db import Database
    from nylas_engine.store.models import Category, Message, Thread

    db = Database(f"sqlite:///{engine.data_dir / 'engine.db'}")
    with db.session() as session:
        account = create_account(session, "bench@example.com", name="Bench")
        inbox = session.query(Category).filter_by(account_id=account.id, name="inbox").one()
        base = 1_700_000_000
        thread = None
        for i in range(count):
            if i % 4 == 0:
                thread = Thread(
                    account_id=account.id,
                    subject=f"Thread {i // 4}",
                    first_message_ts=base + i,
                    last_message_ts=base + i + 3,
                )
                session.add(thread)
            session.add(
                Message(
                    account_id=account.id,
                    thread=thread,
                    subject=f"Thread {i // 4}",
                    from_=[{"name": f"Sender {i % 97}", "email": f"sender{i % 97}@example.com"}],
                    to=[{"name": "Bench", "email": "bench@example.com"}],
                    date=base + i,
                    snippet=f"Message number {i} of the benchmark mailbox.",
                    body=f"<p>Message number {i} of the benchmark mailbox.</p>" * 4,
                    unread=i % 3 == 0,
                    categories=[inbox],
                )
            )
            if i % 1000 == 999:
                session.flush()
        token = account.public_id
    db.engine.dispose()
    return token


def seed_file(engine: LocalEngine, token: str, mib: int) -> str:
    """A `mib` MiB file stored in the engine's blob store (written in chunks, not in memory)."""
    from nylas_engine.store.accounts import find_by_public_id
    from nylas_engine.store.blobs import BlobStore
    from nylas_engine.store.db import Database
    from nylas_engine.store.models import File

    chunk = hashlib.sha256(b"bench").digest() * (1024 * 1024 // 32)
    blobs = BlobStore(engine.data_dir / "blobs")
    sha, size = blobs.put_chunks(chunk for _ in range(mib))
    db = Database(f"sqlite:///{engine.data_dir / 'engine.db'}", run_migrations=False)
    with db.session() as session:
        account = find_by_public_id(session, token)
        assert account is not None
        file = File(
            account_id=account.id,
            filename="big.bin",
            content_type="application/octet-stream",
            size=size,
            sha256=sha,
        )
        session.add(file)
        session.flush()
        file_id = file.public_id
    db.engine.dispose()
    return file_id


def best_of(runs: int, fn: Callable[[], int]) -> tuple[float, int]:
    times, result = [], 0
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def list_raw_httpx(url: str, token: str) -> int:
    """The same requests the SDK makes (its page size), written by hand with httpx."""
    from nylas._sync.collections import PAGE_SIZE as PAGE

    n = 0
    with httpx.Client(base_url=url, auth=(token, "")) as http:
        offset = 0
        while True:
            page = http.get("/messages", params={"limit": PAGE, "offset": offset}).json()
            n += len(page)
            if len(page) < PAGE:
                return n
            offset += PAGE


def list_sdk(url: str, token: str) -> int:
    from nylas import APIClient

    with APIClient(None, None, token, url) as client:
        return sum(1 for _ in client.messages.values())


def list_legacy(url: str, token: str) -> int:
    from legacy_sdk import legacy_client  # tests/legacy_sdk.py: the https:// check, worked around

    client = legacy_client(url, token)
    return sum(1 for _ in client.messages.values())


DOWNLOAD_CHILD = """
import sys, time
from nylas import APIClient
url, token, file_id, dest = sys.argv[1:5]
with APIClient(None, None, token, url) as client:
    f = client.files.get(file_id)
    start = time.perf_counter()
    f.download_to(dest)
    elapsed = time.perf_counter() - start
# VmHWM is this process's own peak; ru_maxrss would inherit the parent's across exec.
hwm = next(l for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(elapsed, hwm.split()[1])
"""


def download_in_child(url: str, token: str, file_id: str) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            [sys.executable, "-c", DOWNLOAD_CHILD, url, token, file_id, f"{tmp}/big.bin"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
    return float(out[0]), int(out[1]) / 1024  # VmHWM is in KiB


def import_time(runs: int = 7) -> float:
    def run(code: str) -> float:
        samples = []
        for _ in range(runs):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True)
            samples.append(time.perf_counter() - start)
        return statistics.median(samples)

    return max(0.0, run("import nylas") - run("pass"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--file-mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="don't update RESULTS.md")
    args = parser.parse_args()

    rows: list[tuple[str, str, str]] = []
    with LocalEngine() as engine:
        engine.stop()
        token = seed_messages(engine, args.messages)
        engine.start()
        raw, n_raw = best_of(args.runs, lambda: list_raw_httpx(engine.url, token))
        sdk, n_sdk = best_of(args.runs, lambda: list_sdk(engine.url, token))
        legacy, n_legacy = best_of(args.runs, lambda: list_legacy(engine.url, token))
        assert n_raw == n_sdk == n_legacy == args.messages, (n_raw, n_sdk, n_legacy)
        rows += [
            (f"list {args.messages} messages: raw httpx", f"{raw:.2f} s", "1.00x (baseline)"),
            (
                f"list {args.messages} messages: nylas (this SDK)",
                f"{sdk:.2f} s",
                f"{sdk / raw:.2f}x raw httpx",
            ),
            (
                f"list {args.messages} messages: nylas-legacy 5.15",
                f"{legacy:.2f} s",
                f"{legacy / sdk:.2f}x slower than this SDK",
            ),
        ]
        file_id = seed_file(engine, token, args.file_mib)
        seconds, rss = download_in_child(engine.url, token, file_id)
        rows.append(
            (
                f"download {args.file_mib} MiB with download_to",
                f"{seconds:.2f} s",
                f"peak RSS {rss:.0f} MiB ({args.file_mib / seconds:.0f} MiB/s)",
            )
        )
    imp = import_time()
    rows.append(
        ("import nylas", f"{imp * 1000:.0f} ms", "fresh interpreter, minus `python -c pass`")
    )

    width = max(len(r[0]) for r in rows)
    table = ["| benchmark | time | ratio / notes |", "|---|---|---|"]
    table += [f"| {name} | {t} | {note} |" for name, t, note in rows]
    for name, t, note in rows:
        print(f"{name:<{width}}  {t:>10}  {note}")
    if not args.no_write:
        write_results(table)


def write_results(table: list[str]) -> None:
    path = ROOT / "bench" / "RESULTS.md"
    head = path.read_text().split("<!-- results -->")[0] if path.exists() else "# Benchmarks\n\n"
    machine = (
        f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} cores"
    )
    stamp = time.strftime("%Y-%m-%d")
    path.write_text(
        head
        + "<!-- results -->\n"
        + f"Measured {stamp} on {machine}.\n\n"
        + "\n".join(table)
        + "\n"
    )


if __name__ == "__main__":
    main()
