"""The engine's files are for its own user only: they hold mail, passwords and tokens.

Directories are made 0700 and files 0600 as they are created, and an existing data
directory, database or pack opened by the engine is tightened to those modes (data dirs
made by older versions were 0755 with 0644 files). SQLite creates a database's `-wal` and
`-shm` files with the mode of the database file itself, so a 0600 database keeps them
private too. The CLI also sets the umask to 0o077 (`cli.main`), for any file not made here.
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600

_creating = threading.Lock()


def private_dir(path: Path) -> Path:
    """`path` as a directory of the engine's own, made if missing, closed to others."""
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    _tighten(path, DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """`path` as a file only its owner can read, made empty if missing (so that SQLite
    opens it instead of creating it with the default mode); with its -wal and -shm files.

    An existing file is never opened here: closing any descriptor of a SQLite database
    drops every POSIX lock this process holds on it, so another connection of the process
    would go on writing unlocked and could corrupt the file. Only a file this call creates
    (O_EXCL) is opened and closed."""
    # A thread that finds the file waits here until its creator has closed it.
    with _creating, contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    for each in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if each.exists():
            _tighten(each, FILE_MODE)
    return path


def write_private(path: Path, data: bytes) -> None:
    """Write `data` to a new (or emptied) file that only its owner can read."""
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE), "wb") as f:
        f.write(data)


def _tighten(path: Path, mode: int) -> None:
    if path.stat().st_mode & 0o077:
        os.chmod(path, mode)
