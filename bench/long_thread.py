"""New mail into a long thread: the CPU one reply costs to store, by the thread's length.

A mailing-list thread of `--length` messages is stored (in batches, as a first sync does),
then `--replies` more replies arrive one at a time (as the live sync stores new mail), each in
its own `ingest_messages` call and commit; the CPU each costs is printed. With
`--baseline-src DIR` the same is measured in the same run for the engine's source in DIR (a
git worktree of an older commit), and the ratio printed.

    python bench/long_thread.py --length 2000 --baseline-src /tmp/old-main
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

T0 = 1_650_000_000


def _mime(n: int, reply_to: str | None) -> bytes:
    msg = EmailMessage()
    msg["Subject"] = "Re: List topic" if reply_to else "List topic"
    msg["From"] = f"P{n} <p{n}@example.org>"
    msg["To"] = "list@example.org"
    msg["Date"] = format_datetime(datetime.fromtimestamp(T0 + n, timezone.utc))
    msg["Message-ID"] = f"<m{n}@example.org>"
    if reply_to:
        msg["In-Reply-To"] = msg["References"] = reply_to
    msg.set_content(f"message {n}")
    return msg.as_bytes()


def measure(length: int, replies: int) -> float:
    """Milliseconds of CPU per reply stored (this process's engine source)."""
    from sqlalchemy import select

    from nylas_engine.config import Settings
    from nylas_engine.context import EngineContext
    from nylas_engine.store.mail import NewMessage, ingest_messages
    from nylas_engine.store.models import Account

    data = Path(tempfile.mkdtemp(prefix="bench-thread-"))
    subprocess.run(
        [sys.executable, "-m", "nylas_engine", "--data-dir", str(data), "accounts", "add",
         "--email", "me@example.org"],
        check=True, capture_output=True,
    )  # fmt: skip
    ctx = EngineContext.open(Settings(data_dir=data))
    raws = [_mime(0, None)] + [_mime(n, "<m0@example.org>") for n in range(1, length)]
    for start in range(0, length, 500):
        with ctx.db.session() as session:
            account = session.scalar(select(Account))
            batch = [NewMessage(raw) for raw in raws[start : start + 500]]
            ingest_messages(session, ctx.blobs, account, batch)
    began = time.process_time()
    for n in range(length, length + replies):
        with ctx.db.session() as session:
            account = session.scalar(select(Account))
            ingest_messages(session, ctx.blobs, account, [NewMessage(_mime(n, "<m0@example.org>"))])
    return (time.process_time() - began) / replies * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--length", type=int, default=2000, help="messages in the thread")
    parser.add_argument("--replies", type=int, default=50, help="replies stored one by one")
    parser.add_argument("--baseline-src", help="also measure the engine source in this tree")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(f"{measure(args.length, args.replies):.2f}")
        return
    here = Path(__file__).resolve().parent.parent / "src"
    runs = [("engine", here)] + (
        [("baseline", Path(args.baseline_src) / "src")] if args.baseline_src else []
    )
    results = {}
    for name, src in runs:
        env = {**os.environ, "PYTHONPATH": str(src)}
        out = subprocess.run(
            [sys.executable, __file__, "--one", "--length", str(args.length),
             "--replies", str(args.replies)],
            check=True, capture_output=True, text=True, env=env,
        ).stdout  # fmt: skip
        results[name] = float(out.strip().splitlines()[-1])
        print(f"{name}: {results[name]:.1f} ms of CPU per reply into a thread of {args.length}")
    if "baseline" in results:
        print(f"engine/baseline: {results['engine'] / results['baseline']:.2f}x")


if __name__ == "__main__":
    main()
