"""Schemathesis against the engine's own `/openapi.json`: every operation answers only the
statuses, content types and bodies the document describes, accepts what it calls valid,
rejects what it calls invalid, and names its methods in `Allow`.

Bounded: a few examples per operation and a time budget, with a fixed seed so a failure
can be replayed. Authenticated with an account's token (Bearer, or Basic `token:`) and,
for `/a/{client_id}/...`, the app's client secret, so the routes behind auth are reached.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from nylas.testing import LocalEngine

CHECKS = (
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "positive_data_acceptance",
    "negative_data_rejection",
    "allow_header_conformance",
)

# (operation id, check, why it can't pass): each turns off one check for one operation.
EXCLUDED: list[tuple[str, str, str]] = []


@pytest.fixture(scope="module")
def token_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalEngine]:
    with LocalEngine(tmp_path_factory.mktemp("conformance"), auth="token") as engine:
        yield engine


def _toml(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def config(client_id: str, secret: str, token: str) -> str:
    lines = [
        "[auth.openapi.accessToken]",
        f"bearer = {_toml(token)}",
        "[auth.openapi.accessTokenBasic]",
        f"username = {_toml(token)}",
        'password = ""',
        "[auth.openapi.clientSecret]",
        f"username = {_toml(secret)}",
        'password = ""',
        "[parameters]",
        f'"path.client_id" = {_toml(client_id)}',
    ]
    for operation_id, check, _why in EXCLUDED:
        lines += [
            "[[operations]]",
            f"include-operation-id = {_toml(operation_id)}",
            f"checks.{check}.enabled = false",
        ]
    return "\n".join(lines) + "\n"


def schemathesis() -> str:
    """The schemathesis of the interpreter running the tests (the project's venv)."""
    local = Path(sys.executable).with_name("schemathesis")
    return str(local) if local.exists() else shutil.which("schemathesis") or "schemathesis"


def test_every_operation_conforms_to_the_document(token_engine, tmp_path):
    app = token_engine.create_app("Conformance", redirect_uri="http://127.0.0.1:9/callback")
    account = token_engine.add_account("conformance@example.com")
    token = token_engine.cli("tokens", "create", account["id"], "--app", app["client_id"]).strip()
    cfg = tmp_path / "schemathesis.toml"
    cfg.write_text(config(app["client_id"], app["client_secret"], token))
    run = subprocess.run(
        [
            schemathesis(),
            "--config-file",
            str(cfg),
            "run",
            f"{token_engine.url}/openapi.json",
            "--checks",
            ",".join(CHECKS),
            "--max-examples",
            "8",
            "--max-time",
            "30",
            "--seed",
            "13",
            "--workers",
            "2",
            "--generation-database",
            "none",
            "--no-shrink",
            "--phases",
            "examples,coverage,fuzzing",
            "--continue-on-failure",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    (tmp_path / "report.txt").write_text(run.stdout + run.stderr)
    assert run.returncode == 0, summary(run.stdout) + run.stderr[-2000:]


def summary(report: str) -> str:
    """One line per failing operation and check, then the report's own summary."""
    lines, operation = [], ""
    for line in report.splitlines():
        if line.startswith("___") and line.endswith("___"):
            operation = line.strip("_ ")
        elif line.startswith("- ") and operation:
            lines.append(f"{operation}: {line[2:]}")
    tail = report[report.rfind("SUMMARY") :] if "SUMMARY" in report else report[-3000:]
    return "\n".join(sorted(set(lines))) + "\n" + tail
