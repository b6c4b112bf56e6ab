"""Passwords given to the CLI: from an environment variable or the first line of a file,
never on the command line (where `ps` and shell histories would show them)."""

from __future__ import annotations

import os
from pathlib import Path


def read_secret(env: str | None, file: str | None, option: str) -> str | None:
    """The secret named by `--{option}-env VAR` or `--{option}-file F` (None if neither);
    exits with the reason if both are given or the one given can't be read."""
    if env and file:
        raise SystemExit(f"give --{option}-env or --{option}-file, not both")
    if env:
        value = os.environ.get(env)
        if value is None:
            raise SystemExit(f"the environment variable {env} is not set")
        return value
    if file:
        try:
            return Path(file).read_text().splitlines()[0]
        except (OSError, IndexError):
            raise SystemExit(f"cannot read a password from {file}") from None
    return None
