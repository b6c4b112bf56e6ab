"""CPU of an IMAP sync's two halves, this tree against another, without IMAP or a server.

    python bench/sync_cpu.py [--messages 10000] [--rounds 5] [--baseline-src DIR]

A whole-sync race (bench/sync.py) moves by ±15% from run to run on this shared machine, so a
change that saves 3% of the engine's CPU can't be seen in it. This measures the CPU of each
half of a first sync on the bench's messages (bench/sync.py's generator, CRLF line ends as
IMAP gives them), each in a fresh process, alternating this tree and the baseline tree
(`--baseline-src`, e.g. a git worktree of main) in every round, and reports each one's
fastest and median run and this tree's ratio to the baseline:

* start-up: the storing process's imports (the engine's database layer and the sync);
* parse: what a sync's worker process does to a batch, `prepare_batch` of 500 messages at
  a time with the blobs written (the MIME parse and the blob pack);
* store: what the storing process does with prepared batches, `ingest_messages` of 500 at a
  time into a new SQLite database, one commit each (threads, summaries, the search index,
  the delta log), its own tree's parse run first, untimed.

Not measured here: IMAP (imaplib's FETCH), the pipe between the processes, the IMAP UID rows.
Nothing is written to RESULTS.md; the numbers go to stdout.

`--valgrind` counts instructions instead (callgrind, `PYTHONHASHSEED=0`; ~15x slower, so use
~2,000 messages and one round): the same count on every run, whatever else the machine is
doing, so a change of a fraction of a percent shows. Each stage's count is its process's
minus that of a process that does everything but the measured part.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BATCH = 500
STAGES = ("start-up", "parse", "store")


def corpus(count: int, distinct: bool = False) -> list[bytes]:
    """The bench's messages, as a server hands them out (CRLF). With `distinct`, each
    message's addresses are its own (`@example.org` becomes `@m17.example.org`): the bench's
    eight people make nearly every From, To and Cc value one the parse has seen before, as
    a real mailbox's are not."""
    sys.path[:0] = [str(ROOT / "bench"), str(ROOT / "tests" / "sync"), str(ROOT / "src")]
    import sync as bench  # bench/sync.py: the benchmark's message generator

    rng = random.Random(4)
    threads: list[tuple[str, str]] = []
    raws = [bench.make_message(i, rng, "me@example.com", threads) for i in range(count)]
    if distinct:
        raws = [raw.replace(b"@example.", b"@m%d.example." % i) for i, raw in enumerate(raws)]
    return [raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n") for raw in raws]


def child(stage: str, corpus_file: str, scratch: str) -> None:
    """One measurement, in a process of its own: prints {"cpu": seconds}. A stage named
    "...-setup" does everything but the measured part."""
    started = time.process_time()
    setup_only = stage.endswith("-setup")
    stage = stage.removesuffix("-setup")
    if stage == "start-up" and setup_only:
        return  # the interpreter alone
    from nylas_engine.store.prepare import prepare_batch

    if stage == "start-up":
        import nylas_engine.context  # noqa: F401  (the database layer, the models)
        import nylas_engine.sync.run  # noqa: F401

        print(json.dumps({"cpu": time.process_time() - started}))
        return
    with open(corpus_file, "rb") as f:
        raws: list[bytes] = pickle.load(f)
    blob_root = Path(scratch) / "blobs"
    batches = [raws[i : i + BATCH] for i in range(0, len(raws), BATCH)]
    if stage == "parse":
        if setup_only:
            return
        started = time.process_time()
        for batch in batches:
            prepare_batch(batch, blob_root)
        print(json.dumps({"cpu": time.process_time() - started}))
        return
    from sqlalchemy import select

    from nylas_engine.bulk_gc import raise_threshold
    from nylas_engine.store.accounts import create_account
    from nylas_engine.store.blobs import BlobStore
    from nylas_engine.store.db import Database
    from nylas_engine.store.mail import NewMessage, ingest_messages
    from nylas_engine.store.models import Account, Category

    prepared = [prepare_batch(batch, blob_root) for batch in batches]
    raise_threshold()  # as the sync's storing process does
    db = Database(f"sqlite:///{scratch}/engine.db")
    blobs = BlobStore(blob_root)
    with db.session() as session:
        account_id = create_account(session, "me@example.com").id
    if setup_only:
        return
    started = time.process_time()
    for batch, parsed in zip(batches, prepared, strict=True):
        with db.session() as session:
            account = session.get(Account, account_id)
            inbox = session.scalars(
                select(Category).where(Category.account_id == account_id, Category.name == "inbox")
            ).one()
            pairs = zip(batch, parsed, strict=True)
            items = [NewMessage(raw, p, categories=[inbox]) for raw, p in pairs]
            ingest_messages(session, blobs, account, items)
    print(json.dumps({"cpu": time.process_time() - started}))


def measure(src: Path, stage: str, corpus_file: Path, valgrind: bool) -> float:
    """CPU seconds of `stage` in a new process running `src`'s engine; with `valgrind`,
    billions of instructions (the stage's process minus its setup's)."""
    if not valgrind:
        return float(json.loads(_run(src, stage, corpus_file, [])[0])["cpu"])
    callgrind = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"]
    counts = []
    for name in (stage, f"{stage}-setup"):
        _, stderr = _run(src, name, corpus_file, callgrind)
        collected = [line for line in stderr.splitlines() if "Collected :" in line]
        counts.append(int(collected[-1].rsplit(":", 1)[1].strip()))
    return (counts[0] - counts[1]) / 1e9


def _run(src: Path, stage: str, corpus_file: Path, wrapper: list[str]) -> tuple[str, str]:
    """Run one child; its last line of stdout, and its stderr."""
    scratch = tempfile.mkdtemp(prefix="sync-cpu-")
    try:
        env = {**os.environ, "PYTHONPATH": str(src / "src"), "PYTHONHASHSEED": "0"}
        done = subprocess.run(
            [*wrapper, sys.executable, __file__, "--child", stage, str(corpus_file), scratch],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        lines = done.stdout.strip().splitlines()
        return (lines[-1] if lines else ""), done.stderr
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--baseline-src", type=Path, help="a source tree to compare with")
    parser.add_argument("--stages", default=",".join(STAGES))
    parser.add_argument("--valgrind", action="store_true", help="count instructions")
    parser.add_argument(
        "--distinct-addresses", action="store_true", help="each message's addresses its own"
    )
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    trees = {"this tree": ROOT}
    if args.baseline_src:
        trees["baseline"] = args.baseline_src.resolve()
    stages = args.stages.split(",")
    unit = "G instructions" if args.valgrind else "s"
    for tree in trees.values():  # compiled once, as pip compiles an installed engine
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(tree / "src")], check=True)
    with tempfile.NamedTemporaryFile(suffix=".pickle") as corpus_file:
        pickle.dump(corpus(args.messages, args.distinct_addresses), corpus_file)
        corpus_file.flush()
        runs: dict[tuple[str, str], list[float]] = {}
        for round_ in range(1, args.rounds + 1):
            for stage in stages:
                for name, tree in trees.items():
                    cpu = measure(tree, stage, Path(corpus_file.name), args.valgrind)
                    runs.setdefault((name, stage), []).append(cpu)
                    print(f"[{round_}] {stage:8s} {name:9s} {cpu:.3f} {unit}", flush=True)
    what = "G instructions" if args.valgrind else "CPU seconds"
    kind = ", distinct addresses" if args.distinct_addresses else ""
    print(f"\n{args.messages} messages{kind}, {args.rounds} rounds, {what} (fastest / median):")
    for stage in stages:
        line = f"{stage:8s}"
        for name in trees:
            cpu = runs[(name, stage)]
            line += f"  {name}: {min(cpu):.3f} / {statistics.median(cpu):.3f}"
        if "baseline" in trees:
            ratio = min(runs[("this tree", stage)]) / min(runs[("baseline", stage)])
            line += f"  ratio (fastest) {ratio:.3f}"
        print(line)


if __name__ == "__main__":
    main()
