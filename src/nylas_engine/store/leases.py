"""Leases: what one worker of a fleet owns for a while (an account to sync, a job to run).

A lease is a row `(name, owner, generation, expires_at)`. It is claimed with a compare-and-set
UPDATE that succeeds only when the row is free, expired, or already the claimer's; every change
of owner adds one to `generation`. The owner renews it (heartbeats) well before `expires_at`;
a worker that dies stops renewing, and another takes the lease once it has expired.

Fencing: a worker that was too slow to renew may still be running when its lease is taken.
Its writes must not land. The thread that works under a lease binds it (`fenced`); then
every commit of a session made in that thread first reads the lease row `FOR SHARE` and raises
`LeaseLost` unless owner and generation are still the ones bound. The row lock is held until
that commit ends, so a takeover (an UPDATE of the row) cannot slip in between the check and
the write (docs/scaling.md).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    MetaData,
    String,
    Table,
    case,
    delete,
    event,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Session

leases = Table(
    "leases",
    MetaData(),
    Column("name", String(64), primary_key=True),
    Column("owner", String(64)),
    Column("generation", BigInteger, nullable=False),
    Column("expires_at", Float, nullable=False),
)

WORKER_PREFIX = "worker:"  # a live worker's own lease: its presence in the fleet
ACCOUNT_PREFIX = "account:"


class LeaseLost(Exception):
    """This worker no longer owns the lease it works under: another took it over."""


@dataclass(frozen=True)
class Lease:
    name: str
    owner: str
    generation: int


def account_lease(account_id: int) -> str:
    return f"{ACCOUNT_PREFIX}{account_id}"


def _ensure_row(session: Session, name: str) -> None:
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        session.execute(
            pg_insert(leases)
            .values(name=name, owner=None, generation=0, expires_at=0.0)
            .on_conflict_do_nothing()
        )
    else:
        session.execute(
            insert(leases)
            .prefix_with("OR IGNORE")
            .values(name=name, owner=None, generation=0, expires_at=0.0)
        )


def claim(session: Session, name: str, owner: str, ttl: float) -> Lease | None:
    """Take `name` for `ttl` seconds if it is free, expired or ours (then it is renewed);
    None if another live owner holds it."""
    now = time.time()
    _ensure_row(session, name)
    same = leases.c.owner == owner
    generation = session.execute(
        update(leases)
        .where(
            leases.c.name == name,
            same | leases.c.owner.is_(None) | (leases.c.expires_at < now),
        )
        .values(
            owner=owner,
            expires_at=now + ttl,
            # the same owner keeps its generation; a new owner makes the next one
            generation=case((same, leases.c.generation), else_=leases.c.generation + 1),
        )
        .returning(leases.c.generation)
    ).scalar_one_or_none()
    return None if generation is None else Lease(name, owner, int(generation))


def renew(session: Session, lease: Lease, ttl: float) -> bool:
    """Extend a lease we hold; False if it was taken over meanwhile."""
    result = session.execute(
        update(leases)
        .where(*_held(lease))
        .values(expires_at=time.time() + ttl)
        .returning(leases.c.name)
    )
    return result.first() is not None


def renew_all(session: Session, held: list[Lease], owner: str, ttl: float) -> set[str]:
    """Extend many leases of one owner in one UPDATE; the names still held."""
    if not held:
        return set()
    rows = session.execute(
        update(leases)
        .where(leases.c.owner == owner, leases.c.name.in_([lease.name for lease in held]))
        .values(expires_at=time.time() + ttl)
        .returning(leases.c.name, leases.c.generation)
    )
    generations = {lease.name: lease.generation for lease in held}
    return {name for name, generation in rows if generations[name] == generation}


def release(session: Session, lease: Lease) -> None:
    """Give a lease up (shutdown, or a share handed to a new worker): free at once."""
    session.execute(update(leases).where(*_held(lease)).values(owner=None, expires_at=0.0))


def forget(session: Session, name: str, owner: str) -> None:
    """Remove a worker's presence lease (its shutdown)."""
    session.execute(delete(leases).where(leases.c.name == name, leases.c.owner == owner))


def live_owners(session: Session, prefix: str = WORKER_PREFIX) -> list[str]:
    """Names of the unexpired leases under `prefix` (the fleet's live workers)."""
    rows = session.execute(
        select(leases.c.name)
        .where(leases.c.name.startswith(prefix), leases.c.expires_at >= time.time())
        .order_by(leases.c.name)
    )
    return [name for (name,) in rows]


def held(session: Session, prefix: str) -> dict[str, tuple[str | None, int, float]]:
    """Every lease under `prefix`: name → (owner, generation, expires_at)."""
    rows = session.execute(
        select(leases.c.name, leases.c.owner, leases.c.generation, leases.c.expires_at).where(
            leases.c.name.startswith(prefix)
        )
    )
    return {name: (owner, int(gen), float(exp)) for name, owner, gen, exp in rows}


def check(session: Session, lease: Lease) -> None:
    """Raise LeaseLost unless `lease` still holds; the row stays share-locked until this
    transaction ends (PostgreSQL), so a takeover waits for it."""
    query = select(leases.c.generation).where(*_held(lease))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(read=True)
    if session.execute(query).first() is None:
        raise LeaseLost(f"{lease.name} was taken over (generation {lease.generation})")


def _held(lease: Lease) -> tuple[Any, ...]:
    return (
        leases.c.name == lease.name,
        leases.c.owner == lease.owner,
        leases.c.generation == lease.generation,
    )


# ------------------------------------------------------------------------------ fencing

_bound = threading.local()


@contextlib.contextmanager
def fenced(lease: Lease | None) -> Iterator[None]:
    """Sessions committed by this thread inside the block check `lease` first (None: no
    lease, nothing checked)."""
    previous = getattr(_bound, "lease", None)
    _bound.lease = lease
    try:
        yield
    finally:
        _bound.lease = previous


def install_fencing(sessions: Any) -> None:
    @event.listens_for(sessions, "before_commit")
    def _check_lease(session: Session) -> None:
        lease: Lease | None = getattr(_bound, "lease", None)
        if lease is None or session.info.get("fencing"):
            return
        session.info["fencing"] = True  # the check's own SELECT must not check again
        try:
            check(session, lease)
        finally:
            session.info["fencing"] = False
