"""Opening a database: a new one is created at the newest revision (from the models, in one
step), an old one is upgraded, and one already current is opened without loading Alembic
(every CLI command opens it). Replaying every migration makes the same schema as the one
step, so the two cannot drift apart."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text

from nylas_engine.store.db import (
    MIGRATIONS_DIR,
    Database,
    current_revision,
    head_revision,
    make_engine,
)


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def test_head_revision_is_alembics_head() -> None:
    """The fast check reads the head from the file names; Alembic reads the revision chain.
    A migration named out of the numbering would make them differ."""
    assert head_revision() == ScriptDirectory.from_config(_alembic_config()).get_current_head()


def test_new_database_is_created_at_head(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'engine.db'}")
    assert current_revision(db.engine) == head_revision()
    assert "messages" in inspect(db.engine).get_table_names()


def test_old_database_is_upgraded(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'engine.db'}"
    db = Database(url)
    config = _alembic_config()
    with db.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0004")
    assert current_revision(db.engine) == "0004"
    assert "token_id" not in {c["name"] for c in inspect(db.engine).get_columns("auth_codes")}
    db.engine.dispose()

    reopened = Database(url)
    assert current_revision(reopened.engine) == head_revision()
    assert "token_id" in {c["name"] for c in inspect(reopened.engine).get_columns("auth_codes")}


def test_current_database_opens_without_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'engine.db'}"
    Database(url).engine.dispose()
    probe = (
        "import sys; from nylas_engine.store.db import Database; "
        f"Database({url!r}); print('alembic' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_upgrading_keeps_every_accounts_mail(tmp_path: Path, new_database) -> None:
    """Every migration since the first release upgrades a database with mail in it without
    losing any (on SQLite, rebuilding the accounts table would delete its mail through the
    foreign keys)."""
    from sqlalchemy import func, select

    from nylas_engine.store.accounts import create_account
    from nylas_engine.store.models import Account, Message

    db = Database(new_database() or f"sqlite:///{tmp_path / 'engine.db'}")
    with db.session() as session:
        account = create_account(session, "kept@example.com")
        session.add_all(Message(account_id=account.id, subject=f"m{n}") for n in range(3))
    config = _alembic_config()
    for step, revision in ((command.downgrade, "0010"), (command.upgrade, "head")):
        with db.engine.begin() as conn:
            config.attributes["connection"] = conn
            step(config, revision)
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(Account)) == 1
        assert session.scalar(select(func.count()).select_from(Message)) == 3
    db.engine.dispose()


def _schema(engine: Engine) -> dict[str, Any]:
    """Everything about a database's schema that the engine relies on: tables, columns with
    their types, nullability and defaults, keys, indexes, and the objects outside the
    models (SQLite's FTS5 table, PostgreSQL's functions and triggers)."""
    found = inspect(engine)
    tables: dict[str, Any] = {}
    for name in sorted(found.get_table_names()):
        tables[name] = {
            # in any order: a migration adds a column at the end, the model may have it earlier
            "columns": sorted(
                (c["name"], str(c["type"]), c["nullable"], str(c.get("default")))
                for c in found.get_columns(name)
            ),
            "primary key": found.get_pk_constraint(name)["constrained_columns"],
            "foreign keys": sorted(
                (
                    tuple(fk["constrained_columns"]),
                    fk["referred_table"],
                    tuple(fk["referred_columns"]),
                    str(fk.get("options")),
                )
                for fk in found.get_foreign_keys(name)
            ),
            "indexes": sorted(
                (i["name"], tuple(i["column_names"]), bool(i["unique"]))
                for i in found.get_indexes(name)
            ),
            "unique": sorted(tuple(u["column_names"]) for u in found.get_unique_constraints(name)),
        }
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            others = conn.execute(
                text("SELECT type, name, sql FROM sqlite_master WHERE sql LIKE 'CREATE VIRTUAL%'")
            )
        else:
            others = conn.execute(
                text(
                    "SELECT 'trigger', tgname, pg_get_triggerdef(oid) FROM pg_trigger "
                    "WHERE NOT tgisinternal UNION ALL "
                    "SELECT 'function', proname, prosrc FROM pg_proc "
                    "WHERE pronamespace = 'public'::regnamespace"
                )
            )
        extra = sorted(tuple(row) for row in others)
    return {"tables": tables, "others": extra, "revision": current_revision(engine)}


def test_replaying_the_migrations_makes_the_schema_a_new_database_gets(
    tmp_path: Path, new_database
) -> None:
    """A new database is made from the models (store/fresh_schema.py); an old one reaches
    the same place through every migration since the first. Same tables, columns, types,
    keys, indexes, search table and triggers, same revision."""
    fresh = Database(new_database() or f"sqlite:///{tmp_path / 'fresh.db'}")
    replayed = make_engine(new_database() or f"sqlite:///{tmp_path / 'replayed.db'}")
    config = _alembic_config()
    with replayed.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
    made, migrated = _schema(fresh.engine), _schema(replayed)
    assert made["revision"] == migrated["revision"] == head_revision()
    assert made["others"] == migrated["others"]
    assert made["others"], "the search table (SQLite) or the NOTIFY trigger (PostgreSQL)"
    assert sorted(made["tables"]) == sorted(migrated["tables"])
    for table, shape in made["tables"].items():
        assert shape == migrated["tables"][table], table
    fresh.engine.dispose()
    replayed.dispose()
