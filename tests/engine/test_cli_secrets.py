"""Passwords for `accounts add` come from an environment variable or a file, with clear
errors when they can't be had (the same rules for the mail, SMTP and DAV passwords)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nylas_engine.cli_secrets import read_secret


def test_from_the_environment_or_the_first_line_of_a_file(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("MAIL_PW", "s3cret with spaces")
    assert read_secret("MAIL_PW", None, "password") == "s3cret with spaces"
    path = tmp_path / "pw"
    path.write_text("from-file\nsecond line\n")
    assert read_secret(None, str(path), "dav-password") == "from-file"
    assert read_secret(None, None, "password") is None


@pytest.mark.parametrize(
    ("env", "file", "says"),
    [
        ("MAIL_PW", "pw", "give --password-env or --password-file, not both"),
        ("NO_SUCH_VARIABLE_HERE", None, "the environment variable NO_SUCH_VARIABLE_HERE"),
        (None, "missing", "cannot read a password from"),
        (None, "empty", "cannot read a password from"),
    ],
)
def test_what_cannot_be_read_stops_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env, file, says
) -> None:
    monkeypatch.setenv("MAIL_PW", "x")
    monkeypatch.delenv("NO_SUCH_VARIABLE_HERE", raising=False)
    (tmp_path / "pw").write_text("x\n")
    (tmp_path / "empty").write_text("")
    with pytest.raises(SystemExit) as stopped:
        read_secret(env, str(tmp_path / file) if file else None, "password")
    assert says in str(stopped.value)
