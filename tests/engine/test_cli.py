"""`nylas-engine` as a newcomer types it: global options on either side of the command,
help for every option, and a taken port said plainly before anything else (cli.py,
listener.py)."""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from nylas.testing import free_port
from nylas_engine.cli import build_parser


def nylas_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nylas_engine", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_global_options_before_or_after_the_command(tmp_path):
    after = nylas_cli("accounts", "add", "--email", "a@example.com", "--data-dir", str(tmp_path))
    assert after.returncode == 0, after.stderr
    url = f"sqlite:///{tmp_path / 'other.db'}"
    other = nylas_cli(
        "--data-dir", str(tmp_path), "accounts", "add", "--email", "b@example.com", "--db", url
    )
    assert other.returncode == 0, other.stderr

    before = nylas_cli("--data-dir", str(tmp_path), "accounts", "list", "--json")
    assert [a["email_address"] for a in json.loads(before.stdout)] == ["a@example.com"]
    listed = nylas_cli("accounts", "list", "--json", "--db", url, "--data-dir", str(tmp_path))
    assert [a["email_address"] for a in json.loads(listed.stdout)] == ["b@example.com"]


def _parsers(parser: argparse.ArgumentParser) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield parser.prog, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                assert choice.help, f"{parser.prog} {choice.dest}: a command without help"
            for child in action.choices.values():
                yield from _parsers(child)


def test_every_command_and_option_has_help():
    parsers = dict(_parsers(build_parser()))
    assert {"nylas-engine serve", "nylas-engine demo", "nylas-engine accounts add"} <= set(parsers)
    for prog, parser in parsers.items():
        for action in parser._actions:
            if not isinstance(action, argparse._SubParsersAction):
                assert action.help, f"{prog} {'/'.join(action.option_strings) or action.dest}"
    demo = parsers["nylas-engine demo"].parse_args(["--port", "6000", "--db", "sqlite://"])
    assert (demo.port, demo.db) == (6000, "sqlite://")


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", free_port()))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.mark.parametrize("command", ["serve", "demo"])
def test_a_taken_port_is_said_before_anything_else(tmp_path, taken_port, command):
    done = nylas_cli(command, "--data-dir", str(tmp_path), "--port", str(taken_port))
    assert done.returncode == 1
    assert done.stdout == ""  # no quick start, no "serving on"
    assert f"port {taken_port} is in use; pass --port" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_profiled_command_still_writes_its_profile(tmp_path):
    """`cli.run` ends the process without Python's exit, except under a profiler: cProfile
    writes its results as Python exits (bench/sync.py --profile relies on it)."""
    out = tmp_path / "accounts.prof"
    done = subprocess.run(
        [
            *(sys.executable, "-m", "cProfile", "-o", str(out), "-m", "nylas_engine"),
            *("--data-dir", str(tmp_path), "accounts", "list", "--json"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []
    assert out.stat().st_size > 0
