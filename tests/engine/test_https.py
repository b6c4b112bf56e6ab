"""HTTPS (`serve --tls-self-signed`, `--tls-cert/--tls-key`): code written for hosted Nylas v2
pointed at the engine with nothing patched. The official nylas-legacy 5.15 client (which
refuses any server but https://), the official Node.js SDK 6.x and curl each trust the
engine's local CA the way the README says, through their ordinary settings."""

from __future__ import annotations

import contextlib
import json
import re
import ssl
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import Engine
from cryptography import x509
from mailfactory import Mailbox
from node_sdk import run_node

from nylas.testing import free_port

T0 = 1_600_000_000


@pytest.fixture(scope="module")
def tls_engine(
    tmp_path_factory: pytest.TempPathFactory, new_database: Callable[[], str | None]
) -> Iterator[Engine]:
    engine = Engine(tmp_path_factory.mktemp("https"), db_url=new_database(), tls=True)
    with engine:
        yield engine


@pytest.fixture
def mail(tls_engine: Engine) -> dict[str, Any]:
    account = tls_engine.new_account()
    box = Mailbox(tls_engine, account)
    first = box.add("Plans", from_="Ann <ann@x.com>", date=T0 + 10)
    reply = box.add("Re: Plans", from_="bob@x.com", date=T0 + 20, reply_to=first)
    return {"account": account, "first": first, "reply": reply}


def nylas_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nylas_engine", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_nylas_legacy_over_https_unpatched(tls_engine, mail, monkeypatch):
    from nylas_legacy import APIClient

    app = tls_engine.create_app("Legacy over HTTPS")
    account_id = mail["account"]["id"]
    token = tls_engine.cli("tokens", "create", account_id, "--app", app["client_id"]).strip()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_engine.ca_file))

    client = APIClient(app["client_id"], app["client_secret"], token, tls_engine.url)

    assert tls_engine.url.startswith("https://")
    threads = client.threads.all()
    assert [(t.id, t.subject) for t in threads] == [(mail["first"]["thread_id"], "Plans")]
    message = client.messages.get(mail["reply"]["id"])
    assert message.from_ == [{"name": "", "email": "bob@x.com"}]
    folder = client.folders.create()
    folder.display_name = "Over TLS"
    folder.save()
    assert "Over TLS" in [f.display_name for f in client.folders.all()]
    assert client.account.id == account_id

    admin = APIClient(app["client_id"], app["client_secret"], None, tls_engine.url)
    assert [a.id for a in admin.accounts.all()] == [account_id]  # app-level: Basic auth


def test_node_sdk_over_https_with_node_extra_ca_certs(tls_engine, mail, monkeypatch):
    monkeypatch.setenv("NODE_EXTRA_CA_CERTS", str(tls_engine.ca_file))
    seen = run_node(
        tls_engine.url,
        mail["account"]["id"],
        """
        const threads = await nylas.threads.list({in: 'inbox'});
        const label = nylas.folders.build({displayName: 'Node over TLS'});
        await label.save();
        const folders = await nylas.folders.list();
        return {threads: threads.map(t => t.subject),
                folders: folders.map(f => f.displayName)};
        """,
    )
    assert seen["threads"] == ["Plans"]
    assert "Node over TLS" in seen["folders"]


def test_curl_trusts_the_ca_file_and_nothing_else(tls_engine, mail):
    url = f"{tls_engine.url}/threads?limit=1"
    user = mail["account"]["id"] + ":"
    trusted = subprocess.run(
        ["curl", "-sS", "--fail", "--cacert", str(tls_engine.ca_file), "-u", user, url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert trusted.returncode == 0, trusted.stderr
    assert '"subject":"Plans"' in trusted.stdout.replace(" ", "")
    unknown = subprocess.run(["curl", "-sS", "-u", user, url], capture_output=True, timeout=60)
    assert unknown.returncode == 60  # curl: the peer's certificate could not be verified


def test_nylas_sdk_over_https_with_ssl_cert_file(tls_engine, mail, monkeypatch):
    from nylas import APIClient

    monkeypatch.setenv("SSL_CERT_FILE", str(tls_engine.ca_file))
    with APIClient(None, None, mail["account"]["id"], tls_engine.url) as client:
        assert [t.subject for t in client.threads.all()] == ["Plans"]
        label = client.folders.create(display_name="SDK over TLS")
        label.save()
        assert "SDK over TLS" in [f.display_name for f in client.folders.all()]


def test_plain_http_gets_no_reply(tls_engine):
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{tls_engine.port}/", timeout=10)


def test_local_certificate_is_private_covers_loopback_and_is_reused(tmp_path):
    engine = Engine(tmp_path, tls=True)
    with engine:
        first = {name: (tmp_path / "tls" / name).read_bytes() for name in _tls_files(tmp_path)}
    for name in first:
        assert stat.S_IMODE((tmp_path / "tls" / name).stat().st_mode) == 0o600, name
    with engine:  # a later start serves the same certificate
        for host in ("localhost", "127.0.0.1"):
            reply = httpx.get(f"https://{host}:{engine.port}/", verify=engine.ssl_context())
            assert reply.json()["object"] == "server"
    assert {name: (tmp_path / "tls" / name).read_bytes() for name in first} == first
    served = x509.load_pem_x509_certificate(first["localhost.pem"])
    names = served.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {str(n.value) for n in names} == {"localhost", "127.0.0.1", "::1"}


def _tls_files(data_dir: Path) -> list[str]:
    return sorted(p.name for p in (data_dir / "tls").iterdir() if p.name.endswith(".pem"))


def test_cert_command_prints_the_ca_to_trust(tmp_path):
    done = nylas_cli("cert", "--data-dir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    ca = tmp_path / "tls" / "ca.pem"
    assert f"REQUESTS_CA_BUNDLE={ca}" in done.stdout
    assert f"NODE_EXTRA_CA_CERTS={ca}" in done.stdout
    assert ca.read_text().startswith("-----BEGIN CERTIFICATE-----")


@contextlib.contextmanager
def serving(*args: str) -> Iterator[str]:
    """`nylas-engine ARGS` running; yields what it printed up to "serving on"."""
    process = subprocess.Popen(
        [sys.executable, "-m", "nylas_engine", *args],
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
        yield "".join(printed)
    finally:
        process.terminate()
        process.wait(15)


def get(url: str, ca: Path, **options: Any) -> httpx.Response:
    """A GET that trusts `ca` alone, once the server is up (it listens before it answers)."""
    return httpx.get(url, verify=ssl.create_default_context(cafile=str(ca)), timeout=60, **options)


def test_serve_with_an_operators_certificate_and_key(tmp_path):
    nylas_cli("cert", "--data-dir", str(tmp_path / "made"))
    made = tmp_path / "made" / "tls"
    port = free_port()
    with serving(
        "serve",
        *("--data-dir", str(tmp_path / "engine"), "--port", str(port)),
        *("--tls-cert", str(made / "localhost.pem"), "--tls-key", str(made / "localhost-key.pem")),
    ) as printed:
        assert f"serving on https://127.0.0.1:{port}/" in printed
        assert "REQUESTS_CA_BUNDLE" not in printed  # the operator knows their certificate
        assert get(f"https://localhost:{port}/", made / "ca.pem").json()["object"] == "server"
    assert not (tmp_path / "engine" / "tls").exists()


@pytest.mark.parametrize(
    ("cert", "key", "said"),
    [
        ("missing.pem", "missing-key.pem", "--tls-cert {dir}/missing.pem: no such file"),
        ("notes.txt", "notes.txt", "both must be PEM files"),
        ("tls/ca.pem", "tls/localhost-key.pem", "KEY_VALUES_MISMATCH"),
    ],
)
def test_unusable_certificate_is_a_sentence_not_a_traceback(tmp_path, cert, key, said):
    nylas_cli("cert", "--data-dir", str(tmp_path))
    (tmp_path / "notes.txt").write_text("not a certificate\n")
    done = nylas_cli(
        "serve",
        *("--data-dir", str(tmp_path), "--port", str(free_port())),
        *("--tls-cert", str(tmp_path / cert), "--tls-key", str(tmp_path / key)),
    )
    assert done.returncode != 0
    assert said.format(dir=tmp_path) in done.stderr
    assert "Traceback" not in done.stderr and "serving on" not in done.stdout


def test_demo_over_https(tmp_path):
    port = free_port()
    with serving(
        "demo",
        *("--data-dir", str(tmp_path), "--port", str(port)),
        *("--messages", "20", "--tls-self-signed"),
    ) as banner:
        ca = tmp_path / "tls" / "ca.pem"
        assert f"serving on https://127.0.0.1:{port}/" in banner
        assert f"REQUESTS_CA_BUNDLE={ca}" in banner
        token = re.search(r"Account id \(your token in open mode\): (\w+)", banner)
        assert token, banner
        url = f"https://127.0.0.1:{port}/threads"
        reply = get(url, ca, params={"limit": 2}, auth=(token[1], ""))
        assert reply.status_code == 200 and len(reply.json()) == 2
        curl = next(line for line in banner.splitlines() if "curl" in line).strip()
        shown = subprocess.run(curl, shell=True, capture_output=True, text=True, timeout=60)
        assert shown.returncode == 0 and len(json.loads(shown.stdout)) == 3, shown.stderr
