"""The outbox's jobs (`/v2/outbox`, `/job-statuses`): what is stored, and every change of state
as a compare-and-set in SQL.

A job is `pending` until the scheduler claims it, then `sending`, then `successful` or
`failed`; a client may `cancel` it (or change it) only while it is `pending`. Each of those
moves is one `UPDATE ... WHERE id = :id AND status = :expected`, and only the caller whose
statement changed a row goes on. So of a cancel (or update) racing the scheduler's claim
exactly one wins, whatever the interleaving: either the cancel is committed and the job is
never claimed, or the claim is and the cancel gets 409. Once claimed, the payload can't
change, so what the scheduler reads after its claim is what it sends.

A claim names the scheduler (its boot id). Before SMTP DATA may begin `data_started` is
committed; a job left `sending` by an engine that stopped (its claim older than the lease)
goes back to `pending` if DATA never started, and is `failed` otherwise: the message may have
gone out, and a job is never sent twice.

A job's outcome is written to the account's delta log as a `job` row in the same transaction
(command `success` or `failed`): webhooks announce it as `job.successful` / `job.failed`, and
delta pages pass over it (no such object type is served there).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session

from nylas_engine.delta.log import record
from nylas_engine.store.models import Account, OutboxJob, now

PENDING, SENDING, SUCCESSFUL, FAILED, CANCELLED = (
    "pending",
    "sending",
    "successful",
    "failed",
    "cancelled",
)
JOB_OBJECT = "job"  # the delta-log object type of an outcome
OUTCOME_COMMANDS = {SUCCESSFUL: "success", FAILED: "failed"}


def create(
    session: Session,
    account: Account,
    payload: dict[str, Any],
    send_at: int,
    retry_limit: int | None,
) -> OutboxJob:
    job = OutboxJob(
        account_id=account.id,
        status=PENDING,
        payload=payload,
        send_at=send_at,
        original_send_at=send_at,
        retry_limit=retry_limit,
        due_at=send_at,
        attempts=0,
        data_started=False,
    )
    session.add(job)
    session.flush()
    return job


def find(session: Session, account: Account, public_id: str) -> OutboxJob | None:
    found: OutboxJob | None = session.scalar(
        select(OutboxJob).where(
            OutboxJob.account_id == account.id, OutboxJob.public_id == public_id
        )
    )
    return found


def listed(account: Account, *, cancelled: bool = True) -> Select[Any]:
    """The account's jobs, oldest first (the outbox leaves out cancelled ones)."""
    stmt = select(OutboxJob).where(OutboxJob.account_id == account.id)
    if not cancelled:
        stmt = stmt.where(OutboxJob.status != CANCELLED)
    return stmt.order_by(OutboxJob.id)


def _move(session: Session, job_id: int, expected: str, **values: Any) -> bool:
    """The compare-and-set every change of state goes through: True if this caller moved it."""
    result = session.execute(
        update(OutboxJob)
        .where(OutboxJob.id == job_id, OutboxJob.status == expected)
        .values(updated_at=now(), **values)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


def change_pending(
    session: Session, job_id: int, payload: dict[str, Any], send_at: int, retry_limit: int | None
) -> bool:
    """A client's update, only while the job is still pending."""
    return _move(
        session,
        job_id,
        PENDING,
        payload=payload,
        send_at=send_at,
        retry_limit=retry_limit,
        due_at=send_at,
    )


def cancel(session: Session, job_id: int) -> bool:
    return _move(session, job_id, PENDING, status=CANCELLED)


def due(session: Session, moment: int, limit: int) -> list[int]:
    return list(
        session.scalars(
            select(OutboxJob.id)
            .where(OutboxJob.status == PENDING, OutboxJob.due_at <= moment)
            .order_by(OutboxJob.due_at, OutboxJob.id)
            .limit(limit)
        )
    )


def claim(session: Session, job_id: int, boot: str, moment: int) -> bool:
    result = session.execute(
        update(OutboxJob)
        .where(OutboxJob.id == job_id, OutboxJob.status == PENDING, OutboxJob.due_at <= moment)
        .values(
            status=SENDING,
            claimed_by=boot,
            claimed_at=moment,
            data_started=False,
            attempts=OutboxJob.attempts + 1,
            updated_at=moment,
        )
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


def set_data_started(session: Session, job_id: int, started: bool) -> None:
    session.execute(
        update(OutboxJob)
        .where(OutboxJob.id == job_id, OutboxJob.status == SENDING)
        .values(data_started=started)
        .execution_options(synchronize_session=False)
    )


def succeed(
    session: Session,
    job: OutboxJob,
    message_id: str,
    thread_id: str | None,
    *,
    refused: str | None = None,
) -> bool:
    """Sent (`refused`: the recipients that refused it, when some did)."""
    done = _move(
        session,
        job.id,
        SENDING,
        status=SUCCESSFUL,
        message_id=message_id,
        thread_id=thread_id,
        reason=refused,
    )
    if done:
        record(session, job.account_id, [(JOB_OBJECT, job.public_id)], "success")
    return done


def fail(session: Session, job: OutboxJob, reason: str, *, expected: str = SENDING) -> bool:
    done = _move(session, job.id, expected, status=FAILED, reason=reason)
    if done:
        record(session, job.account_id, [(JOB_OBJECT, job.public_id)], "failed")
    return done


def retry_later(session: Session, job_id: int, due_at: int, reason: str) -> bool:
    return _move(
        session, job_id, SENDING, status=PENDING, due_at=due_at, reason=reason, claimed_by=None
    )


def stale_claims(session: Session, boot: str, before: int) -> list[OutboxJob]:
    """Jobs left `sending` by another engine (a stopped one) whose claim is older than
    `before`. This engine's own claims are never stale: it is still running them."""
    return list(
        session.scalars(
            select(OutboxJob).where(
                OutboxJob.status == SENDING,
                OutboxJob.claimed_by != boot,
                OutboxJob.claimed_at < before,
            )
        )
    )


def by_public_ids(session: Session, public_ids: set[str]) -> dict[str, OutboxJob]:
    if not public_ids:
        return {}
    rows = session.scalars(select(OutboxJob).where(OutboxJob.public_id.in_(sorted(public_ids))))
    return {job.public_id: job for job in rows}
