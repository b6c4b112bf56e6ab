"""Mail passwords at rest: encrypted in the database, key in a 0600 file or the environment."""

from __future__ import annotations

import stat

import pytest

from nylas_engine.store.credentials import (
    KEY_ENV,
    KEY_FILE,
    CredentialsError,
    MailCredentials,
    Vault,
)


def test_key_file_is_created_private_and_reused(tmp_path, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    sealed = Vault.for_data_dir(tmp_path).seal(MailCredentials("hunter2", "smtp-pass"))
    key_file = tmp_path / KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert b"hunter2" not in sealed
    opened = Vault.for_data_dir(tmp_path).open(sealed)
    assert (opened.imap_password, opened.smtp) == ("hunter2", "smtp-pass")
    assert "hunter2" not in repr(opened) and "hunter2" not in str(opened)


def test_key_from_the_environment_and_wrong_key_error(tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "a long passphrase chosen by the operator")
    sealed = Vault.for_data_dir(tmp_path).seal(MailCredentials("hunter2"))
    assert not (tmp_path / KEY_FILE).exists()
    assert Vault.for_data_dir(tmp_path).open(sealed).smtp == "hunter2"

    monkeypatch.setenv(KEY_ENV, "another passphrase")
    with pytest.raises(CredentialsError, match=KEY_ENV):
        Vault.for_data_dir(tmp_path).open(sealed)


def test_the_database_holds_no_plain_password(dovecot, offline_engine):
    user, password = dovecot.new_user(password="Zq7-unmistakable-pass")
    offline_engine.add_imap_account(dovecot, user, password)
    database = (offline_engine.data_dir / "engine.db").read_bytes()
    wal = offline_engine.data_dir / "engine.db-wal"
    if wal.exists():
        database += wal.read_bytes()
    assert user.encode() in database
    assert password.encode() not in database
    with offline_engine.db.session() as session:
        from nylas_engine.store.models import Account

        row = session.query(Account).filter_by(email_address=user).one()
        assert password.encode() not in row.credentials
        vault = Vault.for_data_dir(offline_engine.data_dir)
        assert vault.open(row.credentials).imap_password == password
