"""`nylas.testing` as a user's project would use it: a pytest plugin with live-engine fixtures."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from nylas import APIClient
from nylas.testing import LocalEngine

USER_TESTS = """
import mailbox
from email.message import EmailMessage

import pytest

pytest_plugins = ["nylas.testing"]


def test_inbox(nylas_client, nylas_engine, nylas_account, tmp_path):
    assert nylas_client.account.id == nylas_account["id"]
    box = mailbox.mbox(tmp_path / "mail.mbox")
    msg = EmailMessage()
    msg["Subject"], msg["From"], msg["To"] = "Imported", "a@example.org", "b@example.org"
    msg.set_content("hello")
    box.add(msg)
    box.flush()
    nylas_engine.import_mail(nylas_account["id"], tmp_path / "mail.mbox")
    assert [t.subject for t in nylas_client.threads] == ["Imported"]


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.mark.anyio
async def test_inbox_async(async_nylas_client, nylas_account):
    assert (await async_nylas_client.account).id == nylas_account["id"]
    assert await async_nylas_client.threads.count() == 0
"""


def test_plugin_fixtures_in_a_user_project(tmp_path: Path) -> None:
    (tmp_path / "test_user.py").write_text(USER_TESTS)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout


def test_an_engine_whose_port_was_taken_meanwhile_starts_on_another(tmp_path: Path) -> None:
    # The port is picked when the engine is made; anything may listen on it before `serve`
    # binds it (in CI: a test's SMTP server, given the same port by the kernel).
    engine = LocalEngine(tmp_path / "engine")
    taken = engine.port
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", taken))
        squatter.listen()
        try:
            engine.start()
            assert engine.port != taken
            assert engine.url.endswith(f":{engine.port}")
            account = engine.add_account("moved@example.com")
            with APIClient(access_token=account["id"], api_server=engine.url) as api:
                assert api.account.email_address == "moved@example.com"
        finally:
            engine.close()
