"""Uploads and downloads stream: a 200 MiB round trip stays under a memory ceiling.

The transfer runs in a subprocess so that its peak RSS measures only the SDK.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from nylas.testing import LocalEngine

SIZE = 200 * 1024 * 1024
CEILING = 100 * 1024 * 1024

SCRIPT = r"""
import hashlib, json, resource, sys
from nylas import APIClient

url, token, source, target = sys.argv[1:5]
client = APIClient(None, None, token, url)
with open(source, "rb") as stream:
    upload = client.files.create()
    upload.filename = "big.bin"
    upload.stream = stream
    upload.save()
client.files.find(upload.id).download_to(target)
digest = hashlib.sha256()
for chunk in client.files.find(upload.id).stream():
    digest.update(chunk)
# ru_maxrss can carry the forking parent's size across exec on Linux; VmHWM is this
# program's own high-water mark.
peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    status = open("/proc/self/status").read()
    peak_kib = int(status.split("VmHWM:")[1].split()[0])
except (OSError, IndexError):
    pass
print(json.dumps({"size": upload.size, "peak": peak_kib * 1024, "sha256": digest.hexdigest()}))
"""


@pytest.fixture(scope="module")
def big_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalEngine]:
    engine = LocalEngine(tmp_path_factory.mktemp("big"), extra_args=["--max-upload-mb", "300"])
    with engine:
        yield engine


def test_200_mib_round_trip_under_memory_ceiling(big_engine: LocalEngine, tmp_path: Path) -> None:
    import hashlib

    account = big_engine.add_account("big@example.com")
    source = tmp_path / "big.bin"
    digest = hashlib.sha256()
    with source.open("wb") as out:
        block = bytes(range(256)) * 4096  # 1 MiB, not all zeros
        for i in range(SIZE // len(block)):
            chunk = block[i % 256 :] + block[: i % 256]
            digest.update(chunk)
            out.write(chunk)
    target = tmp_path / "copy.bin"
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, big_engine.url, account["id"], str(source), str(target)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["size"] == SIZE
    assert target.stat().st_size == SIZE
    assert result["sha256"] == digest.hexdigest()
    print(f"peak RSS {result['peak'] / 2**20:.0f} MiB")
    assert result["peak"] < CEILING, f"peak RSS {result['peak'] / 2**20:.0f} MiB"
