"""The data directory is private (issue 10): after an engine has stored mail, files and
credentials, nothing under its data dir can be read, written or entered by other users;
a data dir left open by an older version is closed when the engine opens it."""

from __future__ import annotations

import mailbox
import os
import stat
from email.message import EmailMessage
from pathlib import Path

import httpx

from nylas.testing import LocalEngine


def open_to_others(data_dir: Path) -> list[str]:
    """Every path under `data_dir` (and itself) with a group or other permission bit."""
    found = []
    for path in [data_dir, *data_dir.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        if mode & 0o077:
            found.append(f"{path.relative_to(data_dir)}: {oct(mode)}")
    return found


def write_mbox(path: Path, count: int) -> None:
    box = mailbox.mbox(path)
    for i in range(count):
        msg = EmailMessage()
        msg["From"] = "ann@example.org"
        msg["To"] = "me@example.com"
        msg["Subject"] = f"Message {i}"
        msg["Message-ID"] = f"<m{i}@example.org>"
        msg.set_content(f"Body {i}\n")
        if i == 0:  # large enough to be a blob file, not a row of the pack
            msg.add_attachment(os.urandom(300_000), maintype="application", subtype="pdf")
        box.add(msg)
    box.close()


def test_everything_the_engine_stores_is_private(tmp_path, new_database):
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o755)
    os.chmod(data_dir, 0o755)  # as an operator (or an older version) may have made it
    engine = LocalEngine(data_dir, db_url=new_database())
    account = engine.add_account("private@example.com")
    for path in [data_dir, *data_dir.rglob("*")]:  # what an older version left
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    write_mbox(tmp_path / "mail.mbox", 5)
    engine.import_mail(account["id"], tmp_path / "mail.mbox")
    app = engine.create_app("Private")
    with engine:
        with httpx.Client(base_url=engine.url, auth=(account["id"], ""), timeout=30) as api:
            assert api.get("/messages", params={"view": "count"}).json() == {"count": 5}
            big = api.post("/files", files={"file": ("big.bin", os.urandom(200_000))})
            small = api.post("/files", files={"file": ("small.txt", b"hello")})
            assert big.status_code == small.status_code == 200
            draft = api.post("/drafts", json={"subject": "Kept", "file_ids": [big.json()[0]["id"]]})
            assert draft.status_code == 200
        admin = httpx.get(f"{engine.url}/a/{app['client_id']}", auth=(app["client_secret"], ""))
        assert admin.status_code == 200
        files = {p.name for p in data_dir.rglob("*") if p.is_file()}
        assert {"secret.key", "pack.db"} <= files
        if engine.db_url is None:
            assert {"engine.db", "engine.db-wal", "engine.db-shm"} <= files
        assert any(len(name) == 64 for name in files), "no blob file was written"
        assert open_to_others(data_dir) == []
