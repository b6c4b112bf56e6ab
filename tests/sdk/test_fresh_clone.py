"""The README's first run, as a newcomer on a stock Debian does it: a fresh clone, `make demo`
with the system Python (which refuses `pip install` outside a virtual environment, PEP 668),
then the seed README's send and invitation calls against the demo, and the mail arriving.

One test, and a slow one: `make demo` makes the clone's .venv and pip-installs the engine into
it from the package index, as on a new machine.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx
import pytest

import nylas
from nylas import APIClient
from nylas.testing import free_port

ROOT = Path(__file__).resolve().parents[2]
DEBIAN_PYTHON = Path("/usr/bin/python3")  # Debian's own, EXTERNALLY-MANAGED (CI has it)
ME = "demo@example.com"
FRIEND = "my.friend@example.com"


def fresh_clone(into: Path) -> Path:
    """A clone of this checkout's HEAD, as `git clone` gives it: nothing untracked, no .venv."""
    head = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    clone = into / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    subprocess.run(["git", "-C", str(clone), "checkout", "--quiet", head], check=True)
    return clone


@contextmanager
def make_demo(clone: Path, port: int, data: Path) -> Iterator[subprocess.Popen[str]]:
    """`make demo PYTHON=/usr/bin/python3` in its own process group, like a terminal's job,
    with none of this test run's Python settings (PYTHONPATH, an active venv) leaking in."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(PYTHON=str(DEBIAN_PYTHON), NYLAS_DEMO_PORT=str(port), NYLAS_DEMO_DATA=str(data))
    command = ["make", "-s", "demo"] if shutil.which("make") else ["bash", "scripts/demo.sh"]
    script = subprocess.Popen(
        command,
        cwd=clone,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        # Ctrl-C must reach it even when the tests run with SIGINT ignored (a background job).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        env=env,
    )
    try:
        yield script
    finally:
        with suppress(ProcessLookupError):
            os.killpg(script.pid, signal.SIGKILL)
        script.wait()
        assert script.stdout is not None
        script.stdout.close()


def read_until(script: subprocess.Popen[str], marker: str) -> str:
    assert script.stdout is not None
    output = ""
    while marker not in output:
        line = script.stdout.readline()
        assert line, f"make demo ended before {marker!r}:\n{output}"
        output += line
    return output


def subjects(client: APIClient, folder: str) -> list[str]:
    return [m.subject or "" for m in client.messages.where(in_=folder, limit=50)]


@pytest.mark.timeout(1200)
@pytest.mark.skipif(not DEBIAN_PYTHON.exists(), reason="needs Debian's /usr/bin/python3")
def test_make_demo_in_a_fresh_clone_with_debian_python_sends_for_real(tmp_path: Path) -> None:
    clone = fresh_clone(tmp_path)
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    with make_demo(clone, port, tmp_path / "demo-data") as demo:
        output = read_until(demo, "Ctrl-C stops it")
        assert "externally-managed-environment" not in output
        assert "Five most recent unread threads in the inbox:\n  - '" in output
        venv_python = clone / ".venv" / "bin" / "python"
        base = subprocess.run(
            [str(venv_python), "-c", "import sys, nylas_engine; print(sys.base_prefix)"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        assert base == "/usr"  # the venv is Debian's Python's, not the one running this test

        with APIClient(None, None, None, url) as admin:
            ids = {a.email_address: a.id or "" for a in admin.accounts.all()}
        client = APIClient(None, None, ids[ME], url)
        friend = APIClient(None, None, ids[FRIEND], url)

        # Seed README 1.11: attach and send
        myfile = client.files.create()
        myfile.filename = "test.txt"
        myfile.data = "hello world"
        draft = client.drafts.create()
        draft.to = [{"name": "My Friend", "email": "my.friend@example.com"}]
        draft.subject = "Here's an attachment"
        draft.body = "Cheers mate!"
        draft.attach(myfile)
        try:
            draft.send()
        except nylas.client.errors.ConnectionError:
            pytest.fail("Unable to connect to the SMTP server.")
        except nylas.client.errors.MessageRejectedError as e:
            pytest.fail(f"Message got rejected by the SMTP server! {e.message} {e.server_error}")
        assert "Here's an attachment" in subjects(client, "sent")
        [received] = [m for m in friend.messages.where(in_="inbox") if m.files]
        assert received.subject == "Here's an attachment"
        assert [f["filename"] for f in received.files or []] == ["test.txt"]

        # Seed README 1.13: an event, its participants notified
        calendar = next(cal for cal in client.calendars if not cal.read_only)
        ev = client.events.create()
        ev.title = "Party at the Ritz"
        ev.when = {"start_time": 1416423667, "end_time": 1416448867}
        ev.location = "The Old Ritz"
        ev.participants = [{"name": "My Friend", "email": "my.friend@example.com"}]
        ev.calendar_id = calendar.id
        ev.save(notify_participants="true")
        ev.location = "The Waldorf-Astoria"
        ev.save()
        assert "Invitation: Party at the Ritz" in subjects(friend, "inbox")
        assert [e.title for e in friend.events.all() if e.read_only] == ["Party at the Ritz"]

        # RSVP to the invitation the demo ships in its inbox
        invitation = next(e for e in client.events.all() if e.message_id)
        invitation.rsvp("yes", "See you there")
        assert f"Accepted: {invitation.title}" in subjects(friend, "inbox")
        [organizers] = [e for e in friend.events.all() if e.title == invitation.title]
        answer = next(p for p in organizers.participants or [] if p["email"] == ME)
        assert answer["status"] == "yes"

        os.killpg(demo.pid, signal.SIGINT)  # Ctrl-C: make dies of it, the script exits 130
        assert demo.wait(60) in (130, -signal.SIGINT)
    with pytest.raises(httpx.TransportError):
        httpx.get(url, timeout=2)
    assert sys.executable != str(venv_python)
