"""IMAP sync benchmark against a real Dovecot: the engine raced against mbsync and offlineimap.

    make bench-sync       # or: python bench/sync.py [--messages 10000] [--rounds 3] [--no-write]

Fills a fresh Dovecot mailbox with N varied messages (Maildir files written before the server
starts: plain text, HTML newsletters, attachments and inline images, ISO-8859-1 bodies, reply
threads, a few malformed ones; spread over Inbox, Archive and Sent), lets Dovecot read it all
once (untimed, so every run starts warm), then, `--rounds` times in turn:

* the engine's initial sync: `nylas-engine sync ACCOUNT --once --json` into a fresh data
  directory;
* mbsync (Debian `isync`) and offlineimap (Debian `offlineimap3`) pulling the same mailbox
  into an empty Maildir, with their default settings (both fsync what they write). They are
  installed with apt-get when missing and this runs as root; otherwise left out.
* mbsync once more with `FSync no` ("mbsync-nofsync"): its wall time and CPU with the
  default settings move with how fast this machine's disk syncs (2.6 to 12 s for the same
  mailbox on different days here); without the fsyncs they show what mbsync itself costs.
* the floor (bench/sync_floor.py, when `fast_mail_parser` is installed: `make bench-sync`
  installs it): the least a Python sync must do (stdlib imaplib, a Rust MIME parser, plain
  sqlite3 with a full-text index, the bytes in a blob pack), in one process.

Each run is measured by a wrapper process (`--measure`) that reaps the whole process tree:
wall time, CPU of every process in it (the engine's worker processes included), and peak
RSS summed over the tree (sampled every 50 ms, each process's own peak counted). "Inbox
usable" is when the first 100 inbox messages can be read: in the engine's database (polled
while it runs) or as files in the peer's local INBOX. Medians of the rounds are reported,
with the engine's ratios to each peer.

Then new mail to delta: `nylas-engine serve` on the synced data, messages delivered to the
inbox over LMTP and APPENDed to Archive by another client, `/delta/longpoll` read until each
shows up. A bare imapclient FETCH loop (no parsing) is timed once, for reference.

`--profile FILE` writes a cProfile of the engine's first sync (which then runs slower);
`--py-spy FILE` samples it, worker processes included, with py-spy. `--rtt MS` puts the
Dovecot MS milliseconds of round trip away from every tool (bench/latency_proxy.py, which holds
each read for half of it in either direction), as a hosted mail server is.
Writes the numbers into the "IMAP sync" section of bench/RESULTS.md unless --no-write.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import platform
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
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


def fill_maildir(
    server: Dovecot, user: str, count: int, distinct_addresses: bool = False
) -> dict[str, int]:
    """Write `count` messages as Maildir files (before the server starts: no APPEND round
    trips); returns how many went to each folder. With `distinct_addresses` each message's
    addresses are its own (`@example.org` becomes `@m17.example.org`; the account's own is
    left alone), as across a real mailbox: the bench's eight people make most header values
    recur."""
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
        if distinct_addresses:  # the account's own address stays as it is
            tagged = user.replace("@example.", f"@m{i}.example.").encode()
            raw = raw.replace(b"@example.", b"@m%d.example." % i).replace(tagged, user.encode())
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
        imap._imap.debug = 0  # IMAPClient's level 5 formats every reply (see sync/dial.py)
        for folder, _share in FOLDERS:
            imap.select_folder(folder, readonly=True)
            uids = sorted(imap.search("ALL"), reverse=True)
            for pos in range(0, len(uids), BATCH):
                data = imap.fetch(uids[pos : pos + BATCH], ["BODY.PEEK[]", "FLAGS"])
                fetched += sum(1 for d in data.values() if b"BODY[]" in d)
        imap.logout()
    return time.perf_counter() - start, fetched


def _tree(root: int) -> dict[int, tuple[int, float]]:
    """{pid: (RSS KiB, CPU seconds)} of `root` and every process below it. The RSS is the
    larger of now and the process's own peak (VmHWM), so a short peak between two samples
    of a single process is not missed."""
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
    found = {}
    for pid in below:
        if pid not in stats:
            continue
        rss, cpu = stats[pid]
        with contextlib.suppress(OSError, ValueError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    rss = max(rss, int(line.split()[1]))
        found[pid] = (rss, cpu)
    return found


def measured_child() -> None:
    """`bench/sync.py --measure CMD...`: run CMD, print its wall time, CPU and peak RSS as
    JSON. A fresh process that makes itself the reaper of everything CMD starts
    (PR_SET_CHILD_SUBREAPER) and waits for all of it, so RUSAGE_CHILDREN holds the CPU of the
    whole process tree, each process once (the engine's worker processes included). Memory
    is sampled from /proc every 50 ms and summed over the tree."""
    import ctypes

    cmd = sys.argv[sys.argv.index("--measure") + 1 :]
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    started_epoch = time.time()  # what "inbox usable" counts from (see `measure`)
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
    seconds = time.perf_counter() - start
    done.set()
    sampler.join()
    own = resource.getrusage(resource.RUSAGE_CHILDREN)
    deadline = time.monotonic() + 30  # worker processes left behind exit within a second
    while time.monotonic() < deadline:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            time.sleep(0.05)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(
        json.dumps(
            {
                "seconds": seconds,
                "started_epoch": started_epoch,
                "peak_kib": own.ru_maxrss,
                # (not ru_maxrss: it counts this Python process, forked before the exec)
                "tree_peak_kib": tree_peak_kib,
                "cpu_seconds": usage.ru_utime + usage.ru_stime,
                "system_cpu_seconds": usage.ru_stime,
                "worker_cpu_seconds": sum(cpu.values()),
                "returncode": process.returncode,
                "stdout": stdout[-20000:],
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


def measure(
    cmd: list[str], env: dict[str, str], inbox_count: Callable[[], int], poll: float
) -> dict[str, Any]:
    """Run `cmd` under the `--measure` wrapper; meanwhile note when `inbox_count()` (what a
    mail client reading the result would see) first reaches INBOX_FIRST, counted from when
    the wrapper started `cmd` (the wrapper's own start, ~0.3 s of imports, is not the
    tool's)."""
    inbox_ready: list[float] = []
    done = threading.Event()

    def watch_inbox() -> None:
        while not done.is_set() and not inbox_ready:
            if inbox_count() >= INBOX_FIRST:
                inbox_ready.append(time.time())
            done.wait(poll)

    watcher = threading.Thread(target=watch_inbox)
    watcher.start()
    try:
        out = subprocess.run(
            [sys.executable, __file__, "--measure", *cmd],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, **env},
        )
    finally:
        done.set()
        watcher.join()
    result: dict[str, Any] = json.loads(out.stdout)
    result["inbox_ready"] = inbox_ready[0] - result["started_epoch"] if inbox_ready else None
    if result["returncode"] != 0:
        raise RuntimeError(f"{cmd[0]} failed:\n{result['stderr']}\n{result['stdout'][-3000:]}")
    return result


class _Far:
    """The Dovecot as the tools reach it through bench/latency_proxy.py (`--rtt`)."""

    def __init__(self, server: Dovecot, port: int) -> None:
        self._server = server
        self.imap_port = port

    def __getattr__(self, name: str) -> Any:
        return getattr(self._server, name)


def new_engine(server: Dovecot, root: Path, src: str | None) -> tuple[LocalEngine, str]:
    """A fresh engine data directory with the bench account added (not synced)."""
    if src and not (Path(src) / "src" / "nylas_engine").is_dir():
        # Else the engine would silently be this checkout's, and the comparison meaningless.
        raise SystemExit(f"{src} is not a checkout root (no src/nylas_engine in it)")
    env = {"PYTHONPATH": str(Path(src) / "src")} if src else {}
    engine = LocalEngine(root, env=env)
    engine.data_dir.mkdir(parents=True)
    secret = engine.data_dir / "password"
    secret.write_text(PASSWORD + "\n")
    imap = ["--imap-host", server.host, "--imap-port", str(server.imap_port), "--plain"]
    added = engine.cli(
        "accounts", "add", "--email", USER, "--json", *imap, "--password-file", str(secret)
    )
    return engine, json.loads(added)["id"]


def engine_sync(
    engine: LocalEngine, account: str, profile: str | None, py_spy: str | None = None
) -> dict[str, Any]:
    cmd = [*engine._base()]
    if profile:
        cmd[1:1] = ["-m", "cProfile", "-o", profile]
    cmd += ["sync", account, "--once", "--json"]
    if py_spy:  # every process of the tree, sampled from outside (raw collapsed stacks)
        cmd[:0] = [
            shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy"),
            "record",
            "-r",
            "250",
            "-f",
            "raw",
            "-o",
            py_spy,
            "--subprocesses",
            "--",
        ]
    # The engine files the newest messages first: the inbox is usable once they are readable.
    db = engine.data_dir / "engine.db"
    result = measure(cmd, engine.env, lambda: _inbox_count(db), 0.02)
    result["summary"] = json.loads(
        next(line for line in reversed(result["stdout"].splitlines()) if line.startswith("{"))
    )
    return result


# ------------------------------------------------------------------------------ the peers

PEERS = {"mbsync": "isync", "offlineimap": "offlineimap3"}  # command: Debian package
NOFSYNC = "mbsync-nofsync"  # mbsync with `FSync no`: what it costs without waiting for the disk
FLOOR = "floor"  # bench/sync_floor.py: the least a Python sync must do, as fast as it goes
BASELINE = "engine (baseline)"

MBSYNC_CONFIG = """\
{global_options}IMAPAccount bench
Host {host}
Port {port}
User {user}
Pass {password}
SSLType None
AuthMechs LOGIN

IMAPStore remote
Account bench

MaildirStore local
Path {dir}/
Inbox {dir}/INBOX
SubFolders Verbatim

Channel bench
Far :remote:
Near :local:
Patterns *
Create Near
Sync Pull
SyncState *
"""

OFFLINEIMAP_CONFIG = """\
[general]
accounts = bench
metadata = {dir}/metadata
ui = quiet

[Account bench]
localrepository = local
remoterepository = remote

[Repository local]
type = Maildir
localfolders = {dir}

[Repository remote]
type = IMAP
remotehost = {host}
remoteport = {port}
remoteuser = {user}
remotepass = {password}
ssl = no
starttls = no
"""


def install_peers() -> list[str]:
    """The peers found on this machine, installed with apt-get first when missing (as root);
    a peer that can't be had is left out of the comparison, with a line saying so."""
    missing = [pkg for cmd, pkg in PEERS.items() if shutil.which(cmd) is None]
    if missing and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "-qq", *missing]
        if subprocess.run(install, env=env, capture_output=True).returncode != 0:
            subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True)
            subprocess.run(install, env=env, capture_output=True)
    found = [cmd for cmd in PEERS if shutil.which(cmd)]
    for cmd in PEERS:
        if cmd not in found:
            print(f"{cmd} is not installed (Debian package {PEERS[cmd]}): left out", flush=True)
    return found


def _floor_inbox(db_path: Path) -> int:
    import sqlite3

    try:
        with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=1) as db:
            return int(db.execute("SELECT count(*) FROM uids WHERE folder = 0").fetchone()[0])
    except sqlite3.Error:
        return 0


def _maildir_count(folder: Path) -> int:
    count = 0
    for sub in ("cur", "new"):
        with contextlib.suppress(OSError), os.scandir(folder / sub) as entries:
            count += sum(1 for _ in entries)
    return count


def peer_sync(name: str, server: Dovecot, root: Path) -> dict[str, Any]:
    """One initial sync of the bench mailbox into an empty Maildir by `name` (mbsync or
    offlineimap, with their default settings: both fsync what they write; or mbsync with
    `FSync no`), or into SQLite by the floor (bench/sync_floor.py)."""
    if root.exists():
        shutil.rmtree(root)
    local = root / "mail"
    local.mkdir(parents=True)
    values = {
        "host": server.host,
        "port": server.imap_port,
        "user": USER,
        "password": PASSWORD,
        "dir": local,
    }
    config = root / "config"
    if name == FLOOR:
        script = str(ROOT / "bench" / "sync_floor.py")
        cmd = [sys.executable, script, server.host, str(server.imap_port), USER, PASSWORD]
        result = measure([*cmd, str(root)], {}, lambda: _floor_inbox(root / "floor.db"), 0.02)
        result["synced"] = json.loads(result["stdout"].splitlines()[-1])["added"]
        return result
    if name in ("mbsync", NOFSYNC):
        options = "FSync no\n\n" if name == NOFSYNC else ""
        config.write_text(MBSYNC_CONFIG.format(**values, global_options=options))
        cmd = ["mbsync", "-c", str(config), "-q", "bench"]
    else:
        config.write_text(OFFLINEIMAP_CONFIG.format(**{**values, "dir": local}))
        cmd = ["offlineimap", "-c", str(config), "-o", "-u", "quiet"]
    result = measure(cmd, {}, lambda: _maildir_count(local / "INBOX"), 0.1)
    synced = sum(_maildir_count(Path(d)) for d, subs, _ in os.walk(local) if "cur" in subs)
    result["synced"] = synced
    return result


def delta_latency(
    server: Dovecot, engine: LocalEngine, account: str, runs: int, folder_runs: int
) -> tuple[list[float], list[float]]:
    """New mail to delta, in seconds each: messages delivered to the inbox over LMTP, then
    messages APPENDed to Archive (another folder) by another client; /delta/longpoll read
    until each shows up. The first inbox probe is not counted: it proves the worker is
    watching (a message landing between its first pass and IDLE waits for the next pass)."""
    import httpx

    engine.start()
    try:
        with httpx.Client(base_url=engine.url, auth=(account, ""), timeout=60) as api:
            _wait_running(api)
            time.sleep(3)
            inbox = [_probe(server, api, n, None) for n in range(runs + 1)][1:]
            archive = [_probe(server, api, n, "Archive") for n in range(folder_runs)]
            return inbox, archive
    finally:
        engine.stop()


def _probe(server: Dovecot, api: Any, n: int, folder: str | None) -> float:
    cursor = api.post("/delta/latest_cursor").json()["cursor"]
    subject = f"Delta probe {folder or 'INBOX'} {n} {time.time()}"
    raw = (
        f"From: Probe <probe@example.org>\r\nTo: {USER}\r\nSubject: {subject}\r\n"
        f"Message-ID: <probe-{n}-{time.time()}@example.org>\r\n\r\nHello.\r\n"
    ).encode()
    start = time.perf_counter()
    if folder is None:
        server.deliver(USER, raw)
    else:
        server.append(USER, [raw], folder=folder)
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline:
        page = api.get("/delta/longpoll", params={"cursor": cursor, "timeout": 30}).json()
        for item in page.get("deltas", []):
            attrs = item.get("attributes") or {}
            if item.get("object") == "message" and attrs.get("subject") == subject:
                seconds = time.perf_counter() - start
                # The worker stores it, then goes back to waiting. The next message comes
                # 2-3 s later, at a time of its own: delivered at a fixed 1 s, it met the
                # worker as its own commit's look woke it from IDLE every time, and showed
                # 0.1 s where mail arriving at any other moment waited for the server's word.
                time.sleep(2 + random.random())
                return seconds
        cursor = page.get("cursor_end") or cursor
    raise RuntimeError(f"{subject!r} never showed up in /delta")


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
    parser.add_argument("--rounds", type=int, default=3, help="alternating runs of each tool")
    parser.add_argument("--idle-runs", type=int, default=5, help="new inbox mail probes")
    parser.add_argument("--folder-runs", type=int, default=3, help="new Archive mail probes")
    parser.add_argument("--no-peers", action="store_true", help="the engine alone")
    parser.add_argument(
        "--peers",
        default=",".join([*PEERS, NOFSYNC, FLOOR]),
        help="which peers (comma list)",
    )
    parser.add_argument("--profile", help="write a cProfile of the engine's sync here")
    parser.add_argument(
        "--py-spy",
        help="record the engine's first sync, worker processes included, with py-spy "
        "(pip install py-spy) into this file (collapsed stacks, 250 samples a second)",
    )
    parser.add_argument(
        "--engine-src",
        help="run the engine from this source tree (e.g. a git worktree of an "
        "older commit, to compare before/after under the same machine conditions)",
    )
    parser.add_argument(
        "--baseline-src",
        help="also run the engine from this source tree in every round (before/after in the "
        "same run; its rows say 'engine (baseline)')",
    )
    parser.add_argument("--no-write", action="store_true", help="don't update RESULTS.md")
    parser.add_argument("--note", default="", help="a label for this run in RESULTS.md")
    parser.add_argument(
        "--distinct-addresses",
        action="store_true",
        help="each message's addresses its own, as in a real mailbox",
    )
    parser.add_argument(
        "--rtt",
        type=float,
        default=0,
        help="reach Dovecot through bench/latency_proxy.py, this many ms of round trip away "
        "(every tool, the same proxy)",
    )
    args = parser.parse_args()
    wanted = set(args.peers.split(","))
    # An installed engine runs from bytecode pip compiled; a checkout compiles its modules on
    # every start when PYTHONDONTWRITEBYTECODE is set (it is on this machine): ~0.2 s of CPU
    # in each process, not the engine's. Compiled once here, as pip would.
    for src in {args.engine_src or str(ROOT), args.baseline_src or str(ROOT)}:
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(Path(src) / "src")])
    peers = [] if args.no_peers else [p for p in install_peers() if p in wanted]
    if "mbsync" in peers and NOFSYNC in wanted:
        peers.insert(peers.index("mbsync") + 1, NOFSYNC)
    if not args.no_peers and FLOOR in wanted:
        if importlib.util.find_spec("fast_mail_parser") is not None:
            peers.append(FLOOR)
        else:
            print("the floor needs fast_mail_parser (pip install fast-mail-parser): left out")

    with tempfile.TemporaryDirectory(prefix="bench-sync-") as tmp:
        os.chmod(tmp, 0o755)  # Dovecot's unprivileged processes must reach its directory
        server = Dovecot(Path(tmp) / "dovecot")
        (server.dir / "mail").mkdir(parents=True)
        t0 = time.perf_counter()
        counts = fill_maildir(server, USER, args.messages, args.distinct_addresses)
        size = sum(p.stat().st_size for p in (server.dir / "mail").rglob("*") if p.is_file())
        print(
            f"mailbox: {args.messages} messages {counts}, {size / 2**20:.0f} MiB, "
            f"written in {time.perf_counter() - t0:.1f} s",
            flush=True,
        )
        load_before = _load()
        server.start()
        proxy = None
        reached: Any = server
        if args.rtt:
            proxy = subprocess.Popen(
                [
                    sys.executable,
                    str(ROOT / "bench" / "latency_proxy.py"),
                    server.host,
                    str(server.imap_port),
                    str(args.rtt),
                ],
                stdout=subprocess.PIPE,
                text=True,
            )
            assert proxy.stdout is not None
            reached = _Far(server, int(proxy.stdout.readline()))
            print(f"every tool reaches Dovecot {args.rtt:g} ms of round trip away", flush=True)
        runs: dict[str, list[dict[str, Any]]] = {"engine": [], **{p: [] for p in peers}}
        if args.baseline_src:
            runs[BASELINE] = []
        try:
            t0 = time.perf_counter()
            bare_fetch(reached, USER)  # Dovecot builds its indexes and caches: untimed
            print(f"warm-up read: {time.perf_counter() - t0:.1f} s", flush=True)
            bare, fetched = bare_fetch(reached, USER)
            assert fetched == args.messages, (fetched, args.messages)
            print(f"bare imapclient FETCH loop: {bare:.2f} s ({fetched} messages)", flush=True)

            engine = account = None
            for round_ in range(args.rounds):
                root = Path(tmp) / f"engine-{round_}"
                engine, account = new_engine(reached, root, args.engine_src)
                first = round_ == 0
                result = engine_sync(
                    engine,
                    account,
                    args.profile if first else None,
                    args.py_spy if first else None,
                )
                assert result["summary"]["added"] == args.messages, result["summary"]
                runs["engine"].append(result)
                _report("engine", round_, result)
                if round_ < args.rounds - 1:
                    shutil.rmtree(root)
                if args.baseline_src:
                    root = Path(tmp) / f"baseline-{round_}"
                    baseline, baseline_account = new_engine(reached, root, args.baseline_src)
                    result = engine_sync(baseline, baseline_account, None)
                    runs[BASELINE].append(result)
                    _report(BASELINE, round_, result)
                    shutil.rmtree(root)
                for peer in peers:
                    result = peer_sync(peer, reached, Path(tmp) / peer)
                    runs[peer].append(result)
                    _report(peer, round_, result)
            assert engine is not None and account is not None
            inbox_latency, folder_latency = (
                delta_latency(reached, engine, account, args.idle_runs, args.folder_runs)
                if args.idle_runs or args.folder_runs
                else ([], [])
            )
            for what, samples in (("inbox", inbox_latency), ("Archive", folder_latency)):
                if samples:
                    print(
                        f"new mail to delta ({what}): median {statistics.median(samples):.2f} s "
                        f"of {[round(x, 2) for x in samples]}",
                        flush=True,
                    )
        finally:
            if proxy is not None:
                proxy.kill()
            server.stop()
        load_after = _load()

    rows = _rows(runs, bare, fetched, inbox_latency, folder_latency)
    print("\n".join(f"{a}: {b} ({c})" for a, b, c in rows), flush=True)
    if not args.no_write:
        note = f"load average {load_before} before, {load_after} after"
        if args.rtt:
            note = f"Dovecot {args.rtt:g} ms of round trip away (bench/latency_proxy.py), {note}"
        write_results(args.messages, size, rows, ", ".join(x for x in (args.note, note) if x))


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _report(name: str, round_: int, result: dict[str, Any]) -> None:
    ready = result["inbox_ready"]
    print(
        f"[{round_ + 1}] {name}: {result['seconds']:.2f} s wall, "
        f"CPU {result['cpu_seconds']:.2f} s (of it the kernel's "
        f"{result.get('system_cpu_seconds', 0.0):.2f} s; below the main process "
        f"{result['worker_cpu_seconds']:.2f} s), "
        f"peak RSS {result['tree_peak_kib'] / 1024:.0f} MiB "
        "(process tree), inbox usable "
        + (f"after {ready:.2f} s" if ready is not None else "never before the end"),
        flush=True,
    )


def _median(results: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in results)


def _rows(
    runs: dict[str, list[dict[str, Any]]],
    bare: float,
    fetched: int,
    inbox_latency: list[float],
    folder_latency: list[float],
) -> list[tuple[str, str, str]]:
    """The table: medians of the alternating rounds, each peer as a ratio to the engine."""
    engine = runs["engine"]
    wall, cpu = _median(engine, "seconds"), _median(engine, "cpu_seconds")
    rss = _median(engine, "tree_peak_kib") / 1024
    readies = [r["inbox_ready"] for r in engine if r["inbox_ready"] is not None]
    n = len(engine)
    walls = ", ".join(f"{r['seconds']:.2f}" for r in engine)
    rows = [
        (
            "engine initial sync",
            f"{wall:.2f} s wall, {cpu:.2f} s CPU, {rss:.0f} MiB",
            f"median of {n}; walls {walls} s; "
            "peak RSS summed over the process tree (engine + worker processes)",
        ),
        (
            f"engine inbox usable (first {INBOX_FIRST} messages readable)",
            f"{statistics.median(readies):.2f} s" if readies else "n/a",
            "during the same initial syncs; target ≤ 1 s",
        ),
    ]
    for peer, results in runs.items():
        if peer == "engine" or not results:
            continue
        if peer == BASELINE:
            b_wall, b_cpu = _median(results, "seconds"), _median(results, "cpu_seconds")
            b_rss = _median(results, "tree_peak_kib") / 1024
            b_ready = [r["inbox_ready"] for r in results if r["inbox_ready"] is not None]
            rows.append(
                (
                    BASELINE,
                    f"{b_wall:.2f} s wall, {b_cpu:.2f} s CPU, {b_rss:.0f} MiB",
                    f"median of {len(results)}; inbox usable after "
                    + (f"{statistics.median(b_ready):.2f} s" if b_ready else "n/a")
                    + "; "
                    + ", ".join(
                        f"engine (baseline)/{p}: wall {b_wall / _median(r, 'seconds'):.2f}x, "
                        f"CPU {b_cpu / _median(r, 'cpu_seconds'):.2f}x"
                        for p, r in runs.items()
                        if p in (*PEERS, NOFSYNC) and r
                    ),
                )
            )
            continue
        p_wall, p_cpu = _median(results, "seconds"), _median(results, "cpu_seconds")
        p_rss = _median(results, "tree_peak_kib") / 1024
        p_ready = [r["inbox_ready"] for r in results if r["inbox_ready"] is not None]
        on_disk = f"{statistics.median(p_ready):.2f} s" if p_ready else "n/a"
        rows.append(
            (
                f"{peer} initial sync",
                f"{p_wall:.2f} s wall, {p_cpu:.2f} s CPU, {p_rss:.0f} MiB",
                f"median of {len(results)}, {results[0]['synced']} messages; "
                f"**engine/{peer}: wall {wall / p_wall:.2f}x, CPU {cpu / p_cpu:.2f}x, "
                f"RSS {rss / p_rss:.1f}x**; its first {INBOX_FIRST} inbox messages on disk "
                f"after {on_disk}",
            )
        )
    rows.append(
        ("bare imapclient FETCH loop", f"{bare:.2f} s", f"{fetched} messages, parses nothing")
    )
    for what, samples in (("inbox", inbox_latency), ("another folder (Archive)", folder_latency)):
        if samples:
            rows.append(
                (
                    f"new mail → delta, {what}",
                    f"{statistics.median(samples):.2f} s",
                    f"median of {len(samples)}: {', '.join(f'{x:.2f}' for x in samples)} s",
                )
            )
    return rows


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
