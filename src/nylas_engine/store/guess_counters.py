"""Failed sign-ins counted in the database, so that every API process of a fleet sees the
same counts (api/ratelimit.py says what is counted under which keys). One row per failure
and key; rows older than the window are removed now and then. A key is stored as its
SHA-256: it holds what a stranger typed (an email, a client id, even a NUL byte, which
PostgreSQL's text refuses), and the database needs only to compare it."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from sqlalchemy import (
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    delete,
    func,
    insert,
    select,
)
from sqlalchemy.orm import Session

guess_counters = Table(
    "guess_counters",
    MetaData(),
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(400), nullable=False),
    Column("failed_at", Float, nullable=False),
    Index("ix_guess_counters_key", "key", "failed_at"),  # a key's recent failures (0019)
)


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def recent(session: Session, keys: Iterable[str], since: float) -> dict[str, tuple[int, float]]:
    """key → (failures since `since`, the oldest of them)."""
    by_digest = {_digest(key): key for key in keys}
    rows = session.execute(
        select(guess_counters.c.key, func.count(), func.min(guess_counters.c.failed_at))
        .where(guess_counters.c.key.in_(list(by_digest)), guess_counters.c.failed_at > since)
        .group_by(guess_counters.c.key)
    )
    return {by_digest[digest]: (int(count), float(oldest)) for digest, count, oldest in rows}


def record(session: Session, keys: Iterable[str], at: float) -> None:
    rows = [{"key": _digest(key), "failed_at": at} for key in keys]
    session.execute(insert(guess_counters), rows)


def prune(session: Session, before: float) -> None:
    session.execute(delete(guess_counters).where(guess_counters.c.failed_at <= before))
