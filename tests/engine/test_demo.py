"""`nylas-engine demo`: the demo account's data, its idempotence, and the served banner."""

from __future__ import annotations

import contextlib
import io
import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from nylas.testing import LocalEngine, free_port
from nylas_engine.store.db import Database
from nylas_engine.store.models import Account, Contact, Event, Message


def demo_cli(data_dir: Path, *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "nylas_engine", "--data-dir", str(data_dir), "demo", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Any:
    data_dir = tmp_path_factory.mktemp("demo")
    first = demo_cli(data_dir, "--no-serve", "--json")
    with LocalEngine(data_dir) as engine:
        yield {"dir": data_dir, "summary": first, "engine": engine}


def get(demo: Any, path: str, **params: Any) -> Any:
    response = httpx.get(
        demo["engine"].url + path, params=params, auth=(demo["summary"]["account_id"], "")
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_demo_mailbox_shape(demo):
    summary = demo["summary"]
    assert summary["email_address"] == "demo@example.com"
    assert summary["messages"] == 300
    assert 80 <= summary["threads"] <= 120

    assert get(demo, "/account")["email_address"] == "demo@example.com"
    assert get(demo, "/threads", view="count") == {"count": summary["threads"]}
    assert get(demo, "/messages", view="count") == {"count": 300}

    folders = {f["display_name"]: f for f in get(demo, "/folders")}
    assert {"Inbox", "Sent", "Archive", "Receipts", "Projects/Alpha"} <= set(folders)
    for name in ("Inbox", "Sent", "Receipts", "Projects/Alpha"):
        assert get(demo, "/messages", view="count", **{"in": name})["count"] > 0, name

    sent = get(demo, "/messages", limit=1000, **{"in": "sent"})
    assert all(m["from"][0]["email"] == "demo@example.com" for m in sent)
    assert not any(m["unread"] for m in sent)
    assert 0 < get(demo, "/messages", view="count", unread="true")["count"] < 300
    assert 0 < get(demo, "/messages", view="count", starred="true")["count"] < 60
    assert get(demo, "/messages", view="count", any_email="ada.okafor@northwind.example")["count"]


def test_demo_threads_are_real_conversations(demo):
    threads = get(demo, "/threads", limit=200)
    long = [t for t in threads if len(t["message_ids"]) >= 3]
    assert len(long) >= 10
    assert any(len(t["participants"]) >= 3 for t in threads)
    thread = long[0]
    headers = [
        get(demo, f"/messages/{mid}", view="expanded")["headers"] for mid in thread["message_ids"]
    ]
    for previous, current in zip(headers, headers[1:], strict=False):
        assert current["In-Reply-To"] == previous["Message-Id"]
        assert previous["Message-Id"] in current["References"]
    assert thread["last_message_timestamp"] >= thread["first_message_timestamp"]


def test_demo_files_are_stored_and_downloadable(demo):
    files = get(demo, "/files", limit=1000)
    by_type: dict[str, list[dict[str, Any]]] = {}
    for file in files:
        by_type.setdefault(file["content_type"], []).append(file)
    assert {"image/png", "application/pdf", "text/plain"} <= set(by_type)
    token = demo["summary"]["account_id"]
    with httpx.Client(base_url=demo["engine"].url, auth=(token, "")) as api:
        png = api.get(f"/files/{by_type['image/png'][0]['id']}/download").content
        pdf = api.get(f"/files/{by_type['application/pdf'][0]['id']}/download").content
        txt = api.get(f"/files/{by_type['text/plain'][0]['id']}/download").content
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and png.endswith(b"IEND\xaeB`\x82")
    assert pdf.startswith(b"%PDF-1.4") and pdf.rstrip().endswith(b"%%EOF")
    assert txt.startswith(b"- ")
    newsletters = [m for m in get(demo, "/messages", limit=1000) if "cid:logo." in m["body"]]
    assert newsletters
    for message in newsletters:  # the HTML's inline logo is a file with its Content-ID
        (logo,) = message["files"]
        assert f"cid:{logo['content_id']}" in message["body"]


def test_demo_contacts_and_events(demo):
    db = Database(f"sqlite:///{demo['dir'] / 'engine.db'}", run_migrations=False)
    with db.session() as session:
        account = session.scalar(
            select(Account).where(Account.public_id == demo["summary"]["account_id"])
        )
        contacts = session.scalars(select(Contact).where(Contact.account_id == account.id)).all()
        events = session.scalars(select(Event).where(Event.account_id == account.id)).all()
        assert len(contacts) >= 10
        ada = next(c for c in contacts if c.given_name == "Ada")
        assert ada.surname == "Okafor" and ada.company_name == "Northwind"
        assert ada.emails == [{"type": "work", "email": "ada.okafor@northwind.example"}]
        assert ada.phone_numbers[0]["number"].startswith("+1")

        (invitation,) = [e for e in events if not e.calendar.is_primary]
        assert invitation.calendar.name == "Emailed events" and invitation.message_id
        assert invitation.title == "Dinner at Trattoria Vela"
        events = [e for e in events if e.calendar.is_primary]
        assert len(events) >= 20
        kinds = {e.when["object"] for e in events}
        assert kinds == {"timespan", "date", "datespan"}
        (weekly,) = [e for e in events if e.recurrence]
        assert weekly.recurrence == {"rrule": ["RRULE:FREQ=WEEKLY;COUNT=10"], "timezone": "UTC"}
        assert all(e.start_ts < e.end_ts for e in events)
    db.engine.dispose()


def test_second_run_reuses_the_account(demo):
    again = demo_cli(demo["dir"], "--no-serve", "--json")
    assert again == demo["summary"]
    db = Database(f"sqlite:///{demo['dir'] / 'engine.db'}", run_migrations=False)
    with db.session() as session:
        demo_accounts = session.scalar(
            select(func.count(Account.id)).where(Account.email_address == "demo@example.com")
        )
        friends = session.scalar(
            select(func.count(Account.id)).where(Account.email_address == "my.friend@example.com")
        )
        messages = session.scalar(select(func.count(Message.id)))
    db.engine.dispose()
    assert demo_accounts == 1 and friends == 1 and messages == 300


def test_demo_serves_and_its_banner_works(tmp_path):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "nylas_engine", "--data-dir", str(tmp_path), "demo"]
        + ["--port", str(port), "--messages", "40"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        printed = []
        for line in process.stdout:
            printed.append(line)
            if "serving on" in line:
                break
        banner = "".join(printed)
        token = re.search(r"Account id \(your token in open mode\): (\w+)", banner)
        assert token, banner
        url = f"http://127.0.0.1:{port}"
        assert f"curl -u {token[1]}: '{url}/threads?limit=3'" in banner

        account = None
        for _ in range(100):
            try:
                account = httpx.get(url + "/account", auth=(token[1], ""), timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert account is not None and account.json()["email_address"] == "demo@example.com"
        threads = httpx.get(url + "/threads", params={"limit": 3}, auth=(token[1], "")).json()
        assert len(threads) == 3 and all(t["object"] == "thread" for t in threads)

        snippet = "\n".join(
            line.strip()
            for line in banner.splitlines()
            if line.strip().startswith(("from nylas", "client =", "print("))
        )
        assert snippet.count("\n") == 2
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(snippet, {})
        assert out.getvalue().strip() == repr([t["subject"] for t in threads])
    finally:
        process.terminate()
        process.wait(15)
