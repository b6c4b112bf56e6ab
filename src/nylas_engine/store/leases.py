"""Leases: what one worker of a fleet owns for a while (an account to sync, a job to run).

A lease is a row `(name, owner, generation, expires_at)`. A worker's presence lease
`worker:<owner>` carries an expiry, which the worker pushes forward at every beat. Every
other lease (`account:<id>`, `job:<name>`) lives as long as its owner is alive. On PostgreSQL
an owner is alive while it holds its liveness lock (store/liveness.py), which does not depend
on its heartbeat thread getting the GIL in time; on SQLite (one process) while its presence
lease is unexpired. So a beat renews everything a worker holds by writing one row, however
many accounts it syncs (docs/scaling.md, capacity model); and, while it stayed alive
throughout, that write is all a beat does (`beat`). Presence rows of workers dead for a while
are swept away (`sweep`).

A lease is claimed with a compare-and-set UPDATE that succeeds only when the row is free, its
owner is no longer alive, or it is already the claimer's; every change of owner adds one to
`generation`. A worker that dies loses its lock (or stops renewing its presence), and others
take its leases.

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
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Index,
    MetaData,
    String,
    Table,
    case,
    delete,
    event,
    exists,
    insert,
    literal,
    select,
    tuple_,
    update,
)
from sqlalchemy.orm import Session

from nylas_engine.store.liveness import holds_lock

leases = Table(
    "leases",
    MetaData(),
    Column("name", String(64), primary_key=True),
    Column("owner", String(64)),
    Column("generation", BigInteger, nullable=False),
    Column("expires_at", Float, nullable=False),
    Index("ix_leases_owner", "owner"),  # a slow beat reads a worker's leases (migration 0021)
    Index("ix_leases_expires_at", "expires_at"),  # live and dead presences (migration 0024)
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


def _owner_alive(session: Session) -> Any:
    """SQL: the row's owner is alive: it holds its liveness lock (PostgreSQL), or its
    presence lease is unexpired (SQLite, where one process is the whole fleet)."""
    if session.get_bind().dialect.name == "postgresql":
        return holds_lock(leases.c.owner)
    presence = leases.alias("presence")
    return exists().where(
        presence.c.name == literal(WORKER_PREFIX, String) + leases.c.owner,
        presence.c.expires_at >= time.time(),
    )


def join(session: Session, owner: str, ttl: float) -> Lease:
    """Enter the fleet: the presence lease `worker:<owner>`, live for `ttl` seconds."""
    name = f"{WORKER_PREFIX}{owner}"
    _ensure_row(session, name)
    generation = session.execute(
        update(leases)
        .where(leases.c.name == name)
        .values(owner=owner, expires_at=time.time() + ttl)
        .returning(leases.c.generation)
    ).scalar_one()
    return Lease(name, owner, int(generation))


def claim(session: Session, name: str, owner: str) -> Lease | None:
    """Take `name` if it is free, its owner is no longer alive, or it is ours; it then lives
    as long as we do. None if another live worker holds it."""
    _ensure_row(session, name)
    same = leases.c.owner == owner
    generation = session.execute(
        update(leases)
        .where(
            leases.c.name == name,
            same | leases.c.owner.is_(None) | ~_owner_alive(session),
        )
        .values(
            owner=owner,
            expires_at=0.0,  # unused: the owner's presence says how long it lasts
            # the same owner keeps its generation; a new owner makes the next one
            generation=case((same, leases.c.generation), else_=leases.c.generation + 1),
        )
        .returning(leases.c.generation)
    ).scalar_one_or_none()
    return None if generation is None else Lease(name, owner, int(generation))


@dataclass(frozen=True)
class Beat:
    """What a heartbeat found: `held` is None when nothing can have been taken over (the
    worker stayed alive throughout, so no other worker saw it dead); else the leases the
    worker still holds, read from the table."""

    held: set[Lease] | None


def beat(
    session: Session,
    presence: Lease,
    ttl: float,
    slack: float,
    alive_throughout: bool | None = None,
) -> Beat | None:
    """A worker's heartbeat: renew its presence, and so every lease it holds, with one
    UPDATE of one row. Where nobody can have claimed its leases, that one UPDATE is the
    whole beat, whatever the worker holds: on PostgreSQL when its liveness lock was held
    throughout (`alive_throughout`, from store/liveness.py), on SQLite (None) when its
    presence had at least `slack` seconds left. Otherwise the leases it still holds are read
    back: those taken over meanwhile are missing. None if the presence row is gone (removed
    by `sweep`, or `forget`)."""
    now = time.time()
    mine = (leases.c.name == presence.name, leases.c.owner == presence.owner)
    if alive_throughout is not False:
        in_time = () if alive_throughout else (leases.c.expires_at >= now + slack,)
        renewed = session.execute(
            update(leases)
            .where(*mine, *in_time)
            .values(expires_at=now + ttl)
            .returning(leases.c.name)
        ).first()
        if renewed is not None:
            return Beat(held=None)
    renewed = session.execute(
        update(leases).where(*mine).values(expires_at=now + ttl).returning(leases.c.name)
    ).first()
    if renewed is None:
        return None
    return Beat(held=owned(session, presence))


def owned(session: Session, presence: Lease) -> set[Lease]:
    """The leases a worker holds besides its presence (an index scan by owner)."""
    rows = session.execute(
        select(leases.c.name, leases.c.generation).where(
            leases.c.owner == presence.owner, leases.c.name != presence.name
        )
    )
    return {Lease(name, presence.owner, int(generation)) for name, generation in rows}


def sweep(session: Session, dead_for: float) -> int:
    """Remove the presence rows of workers gone for `dead_for` seconds (killed, never shut
    down): the fleet's list of workers stays the live ones and a few recent dead. Their
    other leases stay, free to claim (an owner without a presence row is not alive).
    Only presence rows carry an expiry (> 0), which the index on `expires_at` finds; a
    worker whose beats are late but whose liveness lock is held stays."""
    gone = session.execute(
        delete(leases).where(
            leases.c.expires_at > 0,
            leases.c.expires_at < time.time() - dead_for,
            leases.c.name.startswith(WORKER_PREFIX),
            ~_owner_alive(session),
        )
    )
    return int(getattr(gone, "rowcount", 0) or 0)


def release(session: Session, held: Iterable[Lease]) -> None:
    """Give leases up (shutdown, or a share handed to a new worker): free at once. One
    UPDATE; a lease taken over meanwhile stays with its new owner."""
    held = list(held)
    exact = [(lease.name, lease.generation) for lease in held]
    owners = {lease.owner for lease in held}
    if not exact:
        return
    session.execute(
        update(leases)
        .where(
            leases.c.owner.in_(owners),
            tuple_(leases.c.name, leases.c.generation).in_(exact),
        )
        .values(owner=None, expires_at=0.0)
    )


def forget(session: Session, name: str, owner: str) -> None:
    """Remove a worker's presence lease (its shutdown)."""
    session.execute(delete(leases).where(leases.c.name == name, leases.c.owner == owner))


def live_owners(session: Session) -> list[str]:
    """Names of the presence leases of live workers (the fleet). Only presence rows carry
    an expiry (> 0): the index on `expires_at` finds them among the account leases."""
    rows = session.execute(
        select(leases.c.name)
        .where(
            leases.c.expires_at > 0,
            leases.c.name.startswith(WORKER_PREFIX),
            _owner_alive(session),
        )
        .order_by(leases.c.name)
    )
    return [name for (name,) in rows]


def taken(session: Session, prefix: str) -> set[str]:
    """Names of the leases under `prefix` that a live worker holds."""
    rows = session.execute(
        select(leases.c.name).where(
            leases.c.name.startswith(prefix),
            leases.c.owner.is_not(None),
            _owner_alive(session),
        )
    )
    return {name for (name,) in rows}


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
