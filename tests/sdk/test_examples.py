"""The examples and `make demo` run for real: quickstart, the Flask OAuth flow, scripts/demo.sh."""

from __future__ import annotations

import importlib.util
import json
import mailbox
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from nylas import APIClient
from nylas.testing import LocalEngine, free_port

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
PASSWORD = "correct horse battery staple"
CALLBACK = "http://127.0.0.1:8888/login_callback"  # flask_oauth.py's default redirect URI


# ------------------------------------------------------------------------------ quickstart


@pytest.fixture(scope="module")
def demo_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalEngine, Any]]:
    engine = LocalEngine(tmp_path_factory.mktemp("demo"))
    summary = json.loads(engine.cli("demo", "--no-serve", "--json"))
    with engine:
        yield engine, summary


def run_quickstart(url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / "quickstart.py")],
        capture_output=True,
        text=True,
        env={**os.environ, "NYLAS_API_SERVER": url + "/"},
        timeout=60,
    )


def unread_inbox_subjects(url: str, token: str) -> list[str]:
    with APIClient(None, None, token, url) as client:
        return [t.subject or "" for t in client.threads.where(in_="inbox", unread=True, limit=5)]


def test_quickstart_reads_the_demo_inbox(demo_engine: tuple[LocalEngine, Any]) -> None:
    engine, summary = demo_engine
    done = run_quickstart(engine.url)

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("demo@example.com (custom)")
    assert lines[1] == f"{summary['threads']} threads, {summary['messages']} messages"
    subjects = unread_inbox_subjects(engine.url, summary["account_id"])
    assert len(subjects) == 5
    listed = [line for line in lines if line.startswith("  - ")]
    assert [line.split(" with ")[0] for line in listed] == [f"  - {s!r}" for s in subjects]


def test_quickstart_without_accounts_says_what_to_run(tmp_path: Path) -> None:
    with LocalEngine(tmp_path) as engine:
        done = run_quickstart(engine.url)
    assert done.returncode == 1
    assert "nylas-engine demo" in done.stderr


# ------------------------------------------------------------------------------ Flask OAuth


class FormReader(HTMLParser):
    """The first form of a page as a browser sees it: action, fields and submit buttons."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: dict[str, str] = {}
        self.buttons: dict[str, tuple[str, str]] = {}  # value -> (name, value)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {k: v or "" for k, v in attrs}
        if tag == "form" and self.action is None:
            self.action = attr.get("action", "")
        elif tag == "input" and attr.get("name"):
            self.fields[attr["name"]] = attr.get("value", "")
        elif tag == "button" and attr.get("type") == "submit" and attr.get("name"):
            self.buttons[attr.get("value", "")] = (attr["name"], attr.get("value", ""))


def submit_login(
    browser: httpx.Client, page: httpx.Response, button: str, **typed: str
) -> httpx.Response:
    """Fill in the login page's form and press one of its buttons."""
    form = FormReader()
    form.feed(page.text)
    assert form.action is not None, page.text
    name, value = form.buttons[button]
    data = {**form.fields, **typed, name: value}
    return browser.post(urljoin(str(page.url), form.action), data=data)


@pytest.fixture(scope="module")
def token_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalEngine]:
    engine = LocalEngine(
        tmp_path_factory.mktemp("flask"), auth="token", env={"MY_PASSWORD": PASSWORD}
    )
    with engine:
        yield engine


def write_mbox(path: Path, subjects: list[str]) -> None:
    box = mailbox.mbox(str(path))
    for n, subject in enumerate(subjects):
        msg = EmailMessage()
        msg["From"] = "Ada Okafor <ada@example.org>"
        msg["To"] = "me@example.com"
        msg["Subject"] = subject
        msg["Date"] = f"Mon, 0{n + 1} Jun 2026 10:00:00 +0000"
        msg["Message-ID"] = f"<flask-{n}@example.org>"
        msg.set_content(f"Body of {subject}")
        box.add(msg)
    box.close()


@pytest.fixture
def flask_example(
    token_engine: LocalEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[ModuleType, dict[str, Any]]:
    """examples/flask_oauth.py configured for the engine, and the account that will log in."""
    email = f"me-{uuid.uuid4().hex[:8]}@example.com"
    account = token_engine.add_account(email, password_env="MY_PASSWORD")
    write_mbox(tmp_path / "mail.mbox", ["Lunch on Friday?", "Quarterly report"])
    token_engine.import_mail(account["id"], tmp_path / "mail.mbox")

    app = token_engine.create_app("Flask example", redirect_uri=CALLBACK)
    monkeypatch.setenv("NYLAS_APP_ID", app["client_id"])
    monkeypatch.setenv("NYLAS_APP_SECRET", app["client_secret"])
    monkeypatch.setenv("NYLAS_API_SERVER", token_engine.url + "/")
    spec = importlib.util.spec_from_file_location("flask_oauth", EXAMPLES / "flask_oauth.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, account


def test_flask_oauth_login_reads_the_inbox(
    token_engine: LocalEngine, flask_example: tuple[ModuleType, dict[str, Any]]
) -> None:
    module, account = flask_example
    web = module.app.test_client()

    start = web.get("/")
    assert start.status_code == 302
    authorize_url = start.headers["Location"]
    assert authorize_url.startswith(token_engine.url + "/oauth/authorize?")

    with httpx.Client(timeout=30) as browser:
        page = browser.get(authorize_url)
        assert page.status_code == 200
        assert "Flask example" in page.text
        back = submit_login(
            browser, page, "allow", email=account["email_address"], password=PASSWORD
        )
    assert back.status_code == 303, back.text
    location = urlsplit(back.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == CALLBACK
    assert "code=" in location.query

    logged_in = web.get(f"/login_callback?{location.query}")
    assert logged_in.status_code == 302
    assert logged_in.headers["Location"] == "/inbox"
    with web.session_transaction() as session:
        token = session["access_token"]
    assert token != account["id"]  # token mode: a real OAuth token, not the account id

    inbox = web.get("/inbox")
    assert inbox.status_code == 200
    assert inbox.json == {
        "email": account["email_address"],
        "threads": ["Quarterly report", "Lunch on Friday?"],
    }


def test_flask_oauth_cancel_reports_the_error(
    token_engine: LocalEngine, flask_example: tuple[ModuleType, dict[str, Any]]
) -> None:
    module, _ = flask_example
    web = module.app.test_client()

    with httpx.Client(timeout=30) as browser:
        page = browser.get(web.get("/").headers["Location"])
        back = submit_login(browser, page, "deny")
    assert back.status_code == 303
    query = urlsplit(back.headers["location"]).query
    assert "error=access_denied" in query

    refused = web.get(f"/login_callback?{query}")
    assert refused.status_code == 200
    assert refused.text == "Login error: access_denied"
    assert web.get("/inbox").headers["Location"] == "/"  # no token was stored


# ------------------------------------------------------------------------------ make demo


@contextmanager
def demo_script(tmp_path: Path, port: int, **env: str) -> Iterator[subprocess.Popen[str]]:
    """scripts/demo.sh in its own process group, like a terminal's foreground job.

    Whatever the test finds, nothing of the group (the script, its engine) outlives it.
    """
    script = subprocess.Popen(
        ["bash", str(ROOT / "scripts" / "demo.sh")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        # A terminal's job gets Ctrl-C even when the tests run as a background job, which
        # starts its children with SIGINT ignored (and bash cannot trap an ignored signal).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        env={
            **os.environ,
            "PYTHON": sys.executable,
            "NYLAS_DEMO_PORT": str(port),
            "NYLAS_DEMO_DATA": str(tmp_path / "demo-data"),
            "NYLAS_DEMO_SKIP_INSTALL": "1",  # installed already (scripts/test.sh runs pip)
            **env,
        },
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
        assert line, f"demo.sh ended before {marker!r}:\n{output}"
        output += line
    return output


def answers(url: str) -> bool:
    try:
        httpx.get(url, timeout=2)
    except httpx.TransportError:
        return False
    return True


def test_demo_script_serves_and_runs_the_quickstart(tmp_path: Path) -> None:
    port = free_port()
    with demo_script(tmp_path, port, NYLAS_DEMO_EXIT_AFTER_QUICKSTART="1") as script:
        assert script.wait() == 0
        assert not answers(f"http://127.0.0.1:{port}/")  # the script stopped its engine
        assert script.stdout is not None
        output = script.stdout.read()

    assert "Demo account: demo@example.com" in output
    quickstart = output.split("examples/quickstart.py\n", 1)[1]
    assert quickstart.startswith("demo@example.com (custom)")
    assert "Five most recent unread threads in the inbox:\n  - '" in quickstart
    assert (tmp_path / "demo-data" / "engine.db").exists()


def test_demo_script_stops_the_server_on_ctrl_c(tmp_path: Path) -> None:
    port = free_port()
    with demo_script(tmp_path, port) as script:
        output = read_until(script, "Ctrl-C stops it")
        assert "Five most recent unread threads in the inbox:" in output
        assert answers(f"http://127.0.0.1:{port}/")

        os.killpg(script.pid, signal.SIGINT)  # what Ctrl-C in the terminal sends
        assert script.wait() == 130
        assert not answers(f"http://127.0.0.1:{port}/")


# ------------------------------------------------------------------------------ webhooks


@pytest.fixture(scope="module")
def webhook_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalEngine]:
    env = {"NYLAS_ENGINE_WEBHOOK_POLL": "0.1", "NYLAS_ENGINE_WEBHOOK_RETRY": "0.2"}
    with LocalEngine(tmp_path_factory.mktemp("webhooks"), auth="token", env=env) as engine:
        yield engine


def test_flask_webhooks_receives_signed_notifications(
    webhook_engine: LocalEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from werkzeug.serving import make_server

    app = webhook_engine.create_app("Webhooks example")
    port = free_port()
    monkeypatch.setenv("NYLAS_APP_ID", app["client_id"])
    monkeypatch.setenv("NYLAS_APP_SECRET", app["client_secret"])
    monkeypatch.setenv("NYLAS_API_SERVER", webhook_engine.url + "/")
    monkeypatch.setenv("NYLAS_WEBHOOK_URL", f"http://127.0.0.1:{port}/webhook")
    spec = importlib.util.spec_from_file_location("flask_webhooks", EXAMPLES / "flask_webhooks.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    server = make_server("127.0.0.1", port, module.app)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        webhook = module.register()
        assert module.register().id == webhook.id  # registered once, however often it runs
        account = webhook_engine.add_account(f"hooked-{uuid.uuid4().hex[:8]}@example.com")
        link = ["tokens", "create", account["id"], "--app", app["client_id"], "--json"]
        token = json.loads(webhook_engine.cli(*link))["access_token"]
        contact = APIClient(None, None, token, webhook_engine.url).contacts.create()
        contact.given_name = "Ada"
        contact.save()

        deadline = time.monotonic() + 30
        wanted = {("account.connected", account["id"]), ("contact.created", contact.id)}
        while time.monotonic() < deadline:
            got = {(d["type"], d["object_data"]["id"]) for d in module.received}
            if wanted <= got:
                break
            time.sleep(0.05)
        assert wanted <= {(d["type"], d["object_data"]["id"]) for d in module.received}

        # Anything not signed with the app's secret is refused.
        forged = module.app.test_client().post(
            "/webhook", data=b'{"deltas": []}', headers={"X-Nylas-Signature": "0" * 64}
        )
        assert forged.status_code == 401
    finally:
        server.shutdown()
