"""CI check: the committed sync SDK is exactly what scripts/unasync.py makes from the async one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_sync_twin_is_generated_from_the_async_source(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "unasync.py"), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    committed = ROOT / "src" / "nylas" / "_sync"
    generated = sorted(p.name for p in tmp_path.glob("*.py"))
    assert generated == sorted(p.name for p in committed.glob("*.py"))
    for name in generated:
        assert (tmp_path / name).read_text() == (committed / name).read_text(), (
            f"src/nylas/_sync/{name} is stale: run python scripts/unasync.py"
        )


def test_import_does_not_load_httpx() -> None:
    code = "import sys, nylas; from nylas import APIClient; print('httpx' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "False", done.stderr
