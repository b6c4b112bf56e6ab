"""Failed sign-ins counted in the database, so that every API process of a fleet sees the
same counts (api/ratelimit.py says what is counted under which keys). One row per failure
and key; rows older than the window are removed now and then."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Column, Float, Integer, MetaData, String, Table, delete, func, insert, select
from sqlalchemy.orm import Session

guess_counters = Table(
    "guess_counters",
    MetaData(),
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(400), nullable=False),
    Column("failed_at", Float, nullable=False),
)


def recent(session: Session, keys: Iterable[str], since: float) -> dict[str, tuple[int, float]]:
    """key → (failures since `since`, the oldest of them)."""
    rows = session.execute(
        select(guess_counters.c.key, func.count(), func.min(guess_counters.c.failed_at))
        .where(guess_counters.c.key.in_(list(keys)), guess_counters.c.failed_at > since)
        .group_by(guess_counters.c.key)
    )
    return {key: (int(count), float(oldest)) for key, count, oldest in rows}


def record(session: Session, keys: Iterable[str], at: float) -> None:
    session.execute(insert(guess_counters), [{"key": key, "failed_at": at} for key in keys])


def prune(session: Session, before: float) -> None:
    session.execute(delete(guess_counters).where(guess_counters.c.failed_at <= before))
