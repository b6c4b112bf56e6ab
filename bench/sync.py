"""IMAP sync benchmark against a real Dovecot, with its baseline measured in the same run.

    make bench-sync       # or: python bench/sync.py [--messages 10000] [--no-write]

Fills a fresh Dovecot mailbox with N varied messages (Maildir files written before the server
starts: plain text, HTML newsletters, attachments and inline images, ISO-8859-1 bodies, reply
threads, a few malformed ones; spread over Inbox, Archive and Sent), then measures:

* the baseline: a bare imapclient loop that selects each folder and FETCHes BODY.PEEK[] and
  FLAGS for every message in batches of 100 (the same batch size as the engine), doing
  nothing with the bytes;
* the engine's initial sync: `nylas-engine sync ACCOUNT --once --json` in a subprocess, its
  wall time, when the first 100 inbox messages became readable (the database is polled while
  it runs), and peak RSS (read by a fresh wrapper process with getrusage(RUSAGE_CHILDREN),
  so the number is the sync's own);
* new mail to delta with IDLE: `nylas-engine serve` on the synced data, a message delivered
  over LMTP, `/delta/longpoll` read until the message shows up; the median of several.

Dovecot reads the whole mailbox once (untimed) before either run, so both start warm.
`--profile FILE` also writes a cProfile of the engine's sync (which then runs slower).
Writes the numbers into the "IMAP sync" section of bench/RESULTS.md unless --no-write.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests"), str(ROOT / "tests" / "sync")]

from dovecot import MAIL_UID, PASSWORD, Dovecot  # noqa: E402

from nylas.testing import LocalEngine  # noqa: E402

BATCH = 100
START = datetime(2023, 1, 1, 8, 0, tzinfo=timezone.utc)
FOLDERS = [("INBOX", 0.80), ("Archive", 0.15), ("Sent", 0.05)]  # share of the messages
WORDS = [  # fmt: skip
    "meeting",
    "report",
    "budget",
    "quarter",
    "release",
    "schedule",
    "invoice",
    "review",
    "draft",
    "notes",
    "design",
    "plan",
    "customer",
    "feedback",
    "server",
    "backup",
    "lunch",
    "travel",
    "office",
    "update",
    "launch",
    "contract",
    "team",
    "deadline",
    "question",
    "answer",
    "proposal",
    "slides",
    "metrics",
    "hiring",
    "offsite",
    "roadmap",
    "incident",
    "summary",
]
PEOPLE = [
    ("Ann Sender", "ann@example.org"),
    ("Bob Html", "bob@news.example.com"),
    ("Carol Files", "carol@example.org"),
    ("Dan Smith", "dan@example.net"),
    ("Émilie Durand", "emilie@example.fr"),
    ("François Martin", "francois@example.fr"),
    ("Grace Hopper", "grace@example.edu"),
    ("Heidi Klein", "heidi@example.de"),
]
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082"
)


# ------------------------------------------------------------------------------ the mailbox


def _sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def _paragraphs(rng: random.Random, count: int) -> list[str]:
    return [" ".join(_sentence(rng, rng.randint(6, 18)) for _ in range(4)) for _ in range(count)]


def make_message(i: int, rng: random.Random, user: str, threads: list[tuple[str, str]]) -> bytes:
    """Message number `i`: its kind picked by `rng`, so the mix is the same every run."""
    name, addr = PEOPLE[i % len(PEOPLE)]
    date = START + timedelta(minutes=7 * i)
    msgid = f"<bench-{i}@example.org>"
    kind = rng.random()
    if kind < 0.02:  # malformed: no Message-ID, unreadable date, junk addresses
        return (
            f"From: broken sender <<broken{i}@@example.org\n"
            f"To: {user}, ,, undisclosed-recipients:;\n"
            f"Subject: Malformed {i}\nDate: the day after tomorrow\n"
            "Content-Type: text/plain; charset=x-unknown-charset\n\n"
            + "\n\n".join(_paragraphs(rng, 2))
            + "\n"
        ).encode()
    if kind < 0.12:  # ISO-8859-1, 8-bit, RFC 2047 subject
        subject = f"Caf=E9 cr=E8me {i}"
        body = "Voilà, un café très crème.\n\n" + "\n\n".join(_paragraphs(rng, 3))
        return (
            f"From: =?iso-8859-1?q?Fran=E7ois?= <francois@example.fr>\nTo: {user}\n"
            f"Subject: =?iso-8859-1?q?{subject.replace(' ', '_')}?=\n"
            f"Date: {format_datetime(date)}\nMessage-ID: {msgid}\nMIME-Version: 1.0\n"
            "Content-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: 8bit\n\n"
        ).encode() + (body + "\n").encode("iso-8859-1")

    msg = EmailMessage()
    msg["From"] = f"{name} <{addr}>"
    msg["To"] = user
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = msgid
    text = "\n\n".join(_paragraphs(rng, rng.randint(1, 6)))
    if threads and kind < 0.40:  # a reply in an earlier thread
        parent_id, parent_subject = rng.choice(threads)
        msg["Subject"] = "Re: " + parent_subject
        msg["In-Reply-To"] = parent_id
        msg["References"] = parent_id
        msg["Cc"] = "Dan Smith <dan@example.net>"
        msg.set_content(text + "\n\n> " + _sentence(rng, 12) + "\n")
        return bytes(msg)
    subject = f"{_sentence(rng, rng.randint(2, 6))[:-1]} #{i}"
    msg["Subject"] = subject
    threads.append((msgid, subject))
    if len(threads) > 200:
        del threads[: len(threads) - 200]
    if kind < 0.65:  # plain text
        msg.set_content(text + "\n")
    elif kind < 0.88:  # newsletter: text + HTML
        msg.set_content(text + "\n")
        html = "".join(f"<p>{p}</p>" for p in text.split("\n\n"))
        msg.add_alternative(
            f"<html><head><style>p {{margin:0}}</style></head><body><h1>{subject}</h1>"
            f"{html}<table><tr><td>{_sentence(rng, 8)}</td></tr></table></body></html>",
            "html",
        )
    else:  # attachments and an inline image
        msg["Cc"] = "Dan <dan@example.org>"
        msg.set_content(text + "\n")
        msg.add_alternative(
            f'<html><body><p>{text}</p><img src="cid:logo{i}@example.org"></body></html>', "html"
        )
        msg.get_payload()[1].add_related(PNG, "image", "png", cid=f"<logo{i}@example.org>")
        size = rng.choice([2_000, 20_000, 80_000])
        msg.add_attachment(
            b"%PDF-1.4\n" + rng.randbytes(size),
            maintype="application",
            subtype="pdf",
            filename=f"report-{i}.pdf",
        )
    return bytes(msg)


def fill_maildir(server: Dovecot, user: str, count: int) -> dict[str, int]:
    """Write `count` messages as Maildir files (before the server starts: no APPEND round
    trips); returns how many went to each folder."""
    rng = random.Random(4)
    home = server.dir / "mail" / user
    threads: list[tuple[str, str]] = []
    counts: dict[str, int] = {}
    bounds = []
    acc = 0.0
    for folder, share in FOLDERS:
        acc += share
        bounds.append((folder, acc))
    for i in range(count):
        pick = rng.random()
        folder = next(f for f, b in bounds if pick < b)
        base = home if folder == "INBOX" else home / f".{folder}"
        cur = base / "cur"
        if not cur.exists():
            for sub in ("cur", "new", "tmp"):
                (base / sub).mkdir(parents=True, exist_ok=True)
            if folder != "INBOX":
                (base / "maildirfolder").touch()
        flags = "S" if folder == "Sent" or rng.random() < 0.6 else ""
        if rng.random() < 0.05:
            flags = "F" + flags
        raw = make_message(i, rng, user, threads)
        stamp = int((START + timedelta(minutes=7 * i)).timestamp())
        path = cur / f"{stamp}.M{i}P1.bench:2,{flags}"
        path.write_bytes(raw)
        os.utime(path, (stamp, stamp))  # the INTERNALDATE
        counts[folder] = counts.get(folder, 0) + 1
    if os.geteuid() == 0:
        for dirpath, _dirs, files in os.walk(server.dir / "mail"):
            os.chown(dirpath, MAIL_UID, MAIL_UID)
            for name in files:
                os.chown(os.path.join(dirpath, name), MAIL_UID, MAIL_UID)
    return counts


# ------------------------------------------------------------------------------ measurements


def bare_fetch(server: Dovecot, user: str) -> tuple[float, int]:
    """The baseline: FETCH every message's bytes and flags, folder by folder, in batches."""
    start = time.perf_counter()
    fetched = 0
    with server.client(user) as imap:
        for folder, _share in FOLDERS:
            imap.select_folder(folder, readonly=True)
            uids = sorted(imap.search("ALL"), reverse=True)
            for pos in range(0, len(uids), BATCH):
                data = imap.fetch(uids[pos : pos + BATCH], ["BODY.PEEK[]", "FLAGS"])
                fetched += sum(1 for d in data.values() if b"BODY[]" in d)
        imap.logout()
    return time.perf_counter() - start, fetched


def _tree(root: int) -> dict[int, tuple[int, float]]:
    """{pid: (RSS KiB, CPU seconds)} of `root` and every process below it."""
    parents: dict[int, int] = {}
    stats: dict[int, tuple[int, float]] = {}
    tick = os.sysconf("SC_CLK_TCK")
    page_kib = os.sysconf("SC_PAGE_SIZE") // 1024
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry)
        parents[pid] = int(fields[1])
        stats[pid] = (int(fields[21]) * page_kib, (int(fields[11]) + int(fields[12])) / tick)
    below = {root}
    grew = True
    while grew:
        grew = False
        for pid, parent in parents.items():
            if parent in below and pid not in below:
                below.add(pid)
                grew = True
    return {pid: stats[pid] for pid in below if pid in stats}


def measured_child() -> None:
    """`bench/sync.py --measure CMD...`: run CMD, print its wall time and peak RSS as JSON.
    A fresh process, so RUSAGE_CHILDREN holds the command alone. The command's worker
    processes (MIME parsing) are not its waited-for children: their memory and CPU are
    sampled from /proc every 50 ms, summed over the process tree."""
    cmd = sys.argv[sys.argv.index("--measure") + 1 :]
    start = time.perf_counter()
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    tree_peak_kib = 0
    cpu: dict[int, float] = {}
    done = threading.Event()

    def sample() -> None:
        nonlocal tree_peak_kib
        while not done.is_set():
            tree = _tree(process.pid)
            tree_peak_kib = max(tree_peak_kib, sum(rss for rss, _ in tree.values()))
            for pid, (_, seconds) in tree.items():
                if pid != process.pid:
                    cpu[pid] = max(cpu.get(pid, 0.0), seconds)
            done.wait(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    stdout, stderr = process.communicate()
    done.set()
    sampler.join()
    seconds = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(
        json.dumps(
            {
                "seconds": seconds,
                "peak_kib": usage.ru_maxrss,
                "tree_peak_kib": tree_peak_kib,
                "cpu_seconds": usage.ru_utime + usage.ru_stime,
                "worker_cpu_seconds": sum(cpu.values()),
                "returncode": process.returncode,
                "stdout": stdout,
                "stderr": stderr[-4000:],
            }
        )
    )


INBOX_FIRST = 100  # "the inbox is usable": this many of its messages readable


def _inbox_count(db_path: Path) -> int:
    import sqlite3

    try:
        with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=1) as db:
            row = db.execute(
                "SELECT count(*) FROM message_categories mc "
                "JOIN categories c ON c.id = mc.category_id WHERE c.name = 'inbox'"
            ).fetchone()
            return int(row[0])
    except sqlite3.Error:
        return 0


def engine_sync(engine: LocalEngine, account: str, profile: str | None) -> dict[str, Any]:
    cmd = [*engine._base()]
    if profile:
        cmd[1:1] = ["-m", "cProfile", "-o", profile]
    cmd += ["sync", account, "--once", "--json"]
    # While it runs: when the first INBOX_FIRST inbox messages (newest first) are readable.
    inbox_ready: list[float] = []
    done = threading.Event()

    def watch_inbox() -> None:
        while not done.is_set() and not inbox_ready:
            if _inbox_count(engine.data_dir / "engine.db") >= INBOX_FIRST:
                inbox_ready.append(time.perf_counter() - start)
            done.wait(0.02)

    watcher = threading.Thread(target=watch_inbox)
    start = time.perf_counter()
    watcher.start()
    try:
        out = subprocess.run(
            [sys.executable, __file__, "--measure", *cmd],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, **engine.env},
        )
    finally:
        done.set()
        watcher.join()
    result: dict[str, Any] = json.loads(out.stdout)
    result["inbox_ready"] = inbox_ready[0] if inbox_ready else None
    if result["returncode"] != 0:
        raise RuntimeError(f"engine sync failed:\n{result['stderr']}")
    result["summary"] = json.loads(result["stdout"].splitlines()[-1])
    return result


def idle_latency(server: Dovecot, engine: LocalEngine, account: str, runs: int) -> list[float]:
    """Deliver over LMTP, read /delta/longpoll until the message is there; seconds each."""
    import httpx

    engine.start()
    try:
        with httpx.Client(base_url=engine.url, auth=(account, ""), timeout=60) as api:
            _wait_running(api)
            # The worker's first pass (nothing new: CONDSTORE says so at once), then IDLE.
            # A message landing between that pass and IDLE waits for the next full pass
            # (60 s), so the first probe, not counted, gets time and proves IDLE is on.
            time.sleep(3)
            samples = []
            for n in range(runs + 1):  # the first one only proves the worker is in IDLE
                cursor = api.post("/delta/latest_cursor").json()["cursor"]
                subject = f"IDLE probe {n} {time.time()}"
                raw = (
                    f"From: Probe <probe@example.org>\nTo: {USER}\nSubject: {subject}\n"
                    f"Message-ID: <probe-{n}-{time.time()}@example.org>\n\nHello.\n"
                ).encode()
                start = time.perf_counter()
                server.deliver(USER, raw)
                found = False
                deadline = time.monotonic() + 90
                while not found and time.monotonic() < deadline:
                    page = api.get(
                        "/delta/longpoll", params={"cursor": cursor, "timeout": 30}
                    ).json()
                    for item in page.get("deltas", []):
                        attrs = item.get("attributes") or {}
                        if item.get("object") == "message" and attrs.get("subject") == subject:
                            found = True
                    cursor = page.get("cursor_end") or cursor
                if not found:
                    raise RuntimeError(
                        "the delivered message never showed up in /delta:\n"
                        + engine.log_path.read_text()[-3000:]
                    )
                if n:
                    samples.append(time.perf_counter() - start)
                time.sleep(1)  # the worker syncs the inbox, then goes back to IDLE
            return samples
    finally:
        engine.stop()


def _wait_running(api: Any, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if api.get("/account").json().get("sync_state") == "running":
            return
        time.sleep(0.2)
    raise RuntimeError("the engine's sync worker did not reach 'running'")


USER = "user1@example.com"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--idle-runs", type=int, default=5)
    parser.add_argument("--profile", help="write a cProfile of the engine's sync here")
    parser.add_argument(
        "--engine-src",
        help="run the engine from this source tree (e.g. a git worktree of an "
        "older commit, to compare before/after under the same machine conditions)",
    )
    parser.add_argument("--no-write", action="store_true", help="don't update RESULTS.md")
    parser.add_argument("--note", default="", help="a label for this run in RESULTS.md")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-sync-") as tmp:
        os.chmod(tmp, 0o755)  # Dovecot's unprivileged processes must reach its directory
        server = Dovecot(Path(tmp) / "dovecot")
        (server.dir / "mail").mkdir(parents=True)
        t0 = time.perf_counter()
        counts = fill_maildir(server, USER, args.messages)
        size = sum(p.stat().st_size for p in (server.dir / "mail").rglob("*") if p.is_file())
        print(
            f"mailbox: {args.messages} messages {counts}, {size / 2**20:.0f} MiB, "
            f"written in {time.perf_counter() - t0:.1f} s",
            flush=True,
        )
        server.start()
        try:
            t0 = time.perf_counter()
            bare_fetch(server, USER)  # Dovecot builds its indexes and caches: untimed
            print(f"warm-up read: {time.perf_counter() - t0:.1f} s", flush=True)
            bare, fetched = bare_fetch(server, USER)
            assert fetched == args.messages, (fetched, args.messages)
            print(f"bare imapclient FETCH loop: {bare:.2f} s ({fetched} messages)", flush=True)

            env = {"PYTHONPATH": str(Path(args.engine_src) / "src")} if args.engine_src else {}
            engine = LocalEngine(Path(tmp) / "engine", env=env)
            engine.data_dir.mkdir(parents=True)
            secret = engine.data_dir / "password"
            secret.write_text(PASSWORD + "\n")
            imap = ["--imap-host", server.host, "--imap-port", str(server.imap_port), "--plain"]
            added_account = engine.cli(
                "accounts", "add", "--email", USER, "--json", *imap, "--password-file", str(secret)
            )
            account = json.loads(added_account)["id"]
            result = engine_sync(engine, account, args.profile)
            seconds, peak = result["seconds"], result["peak_kib"] / 1024
            tree_peak = max(result["tree_peak_kib"] / 1024, peak)
            added = result["summary"]["added"]
            print(
                f"engine initial sync: {seconds:.2f} s ({added} added), "
                f"{seconds / bare:.2f}x bare, peak RSS {peak:.0f} MiB "
                f"({tree_peak:.0f} MiB with its workers), "
                f"{seconds / max(added, 1) * 1000:.2f} ms/message, "
                f"CPU {result['cpu_seconds']:.1f} s + workers {result['worker_cpu_seconds']:.1f} s",
                flush=True,
            )
            inbox_ready = result["inbox_ready"]
            print(
                f"first {INBOX_FIRST} inbox messages readable after "
                + (f"{inbox_ready:.2f} s" if inbox_ready is not None else "(never seen)"),
                flush=True,
            )
            latencies = (
                idle_latency(server, engine, account, args.idle_runs) if args.idle_runs else []
            )
            if not latencies:
                return
            median = statistics.median(latencies)
            print(
                "new mail to delta (IDLE): median "
                f"{median:.2f} s of {[round(x, 2) for x in latencies]}",
                flush=True,
            )
        finally:
            server.stop()

    rows = [
        ("bare imapclient FETCH loop", f"{bare:.2f} s", f"1.00x (baseline), {fetched} messages"),
        (
            "engine initial sync",
            f"{seconds:.2f} s",
            f"{seconds / bare:.2f}x bare (target ≤ 1.5x); "
            f"{seconds / max(added, 1) * 1000:.1f} ms/message",
        ),
        (
            f"inbox usable: first {INBOX_FIRST} messages readable",
            f"{inbox_ready:.2f} s" if inbox_ready is not None else "n/a",
            "during the same initial sync (newest first); the process starts at 0",
        ),
        (
            "engine peak RSS",
            f"{tree_peak:.0f} MiB",
            f"target ≤ 300 MiB; engine process {peak:.0f} MiB + its worker processes "
            "(sum over the process tree)",
        ),
        (
            "new mail → delta (IDLE)",
            f"{median:.2f} s",
            f"median of {len(latencies)}, target < 2 s",
        ),
    ]
    if not args.no_write:
        write_results(args.messages, size, rows, args.note)


SECTION = "## IMAP sync"
START_MARK, END_MARK = "<!-- sync-results -->", "<!-- /sync-results -->"


def write_results(messages: int, size: int, rows: list[tuple[str, str, str]], note: str) -> None:
    """Replace the numbers between the sync markers (inside the "IMAP sync" section, which
    sits before bench/run.py's own `<!-- results -->` part, so neither script clobbers the
    other's)."""
    path = ROOT / "bench" / "RESULTS.md"
    text = path.read_text()
    machine = f"{platform.python_implementation()} {platform.python_version()}"
    body = (
        f"{START_MARK}\nMeasured {time.strftime('%Y-%m-%d')} on {machine}, {os.cpu_count()} "
        f"cores: {messages} messages ({size / 2**20:.0f} MiB in Maildir){note and ', ' + note}."
        "\n\n| benchmark | value | ratio / notes |\n|---|---|---|\n"
        + "".join(f"| {a} | {b} | {c} |\n" for a, b, c in rows)
        + END_MARK
    )
    if START_MARK in text:
        before, rest = text.split(START_MARK, 1)
        text = before + body + rest.split(END_MARK, 1)[1]
    else:
        head, sep, tail = text.partition("<!-- results -->")
        text = head.rstrip("\n") + f"\n\n{SECTION}\n\n{body}\n\n" + sep + tail
    path.write_text(text)


if __name__ == "__main__":
    if "--measure" in sys.argv:
        measured_child()
    else:
        main()
