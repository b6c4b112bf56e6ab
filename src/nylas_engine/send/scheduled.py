"""Scheduled sending (hosted v2's `/v2/outbox`): a message is stored as a job and sent by the
engine at its `send_at`, through the same path as `POST /send` (send/outbox.py).

Input. The body is a draft (the fields of `POST /send`) plus `send_at` and
`retry_limit_datetime`, unix seconds; 0 or absent means "now" and "no retries". A `send_at`
more than `PAST_TOLERANCE` seconds in the past, or a retry limit before `send_at`, is a 400;
the draft is checked as a send would check it, so a message that can't go out is refused
when it is scheduled, not when its time comes.

Sending (`run_job`). The job is claimed with a compare-and-set (store/outbox_jobs.py), so it
is sent once even with several schedulers on one database; the send commits before SMTP and
holds no session across it. Before DATA may begin the claim is marked `data_started`; from
then on a failure whose outcome the SMTP server left unknown fails the job rather than
retrying it. A failure that later may cure (the server unreachable, throttling: HTTP 5xx or
429) is tried again after a delay that doubles from `NYLAS_ENGINE_OUTBOX_RETRY` seconds
(default 30), the last try at `retry_limit_datetime`; any other failure ends the job.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from nylas_engine.context import EngineContext
from nylas_engine.errors import Conflict, DomainError, InvalidRequest, NotFound
from nylas_engine.send import outbox
from nylas_engine.send.errors import SendError
from nylas_engine.store import drafts
from nylas_engine.store import outbox_jobs as jobs
from nylas_engine.store.models import Account, Message, OutboxJob, now

log = logging.getLogger("nylas_engine.outbox")

PAST_TOLERANCE = 60  # seconds a send_at may lie in the past (clock skew, a slow client)
MAX_TIMESTAMP = 253402300799  # 9999-12-31
RETRY_MAX = 3600.0

# The draft fields a job keeps (what `POST /send` reads); anything else in the body is
# ignored, as drafts ignore it (SDKs send whole objects back).
DRAFT_FIELDS = (
    "to",
    "cc",
    "bcc",
    "from",
    "from_addr",
    "reply_to",
    "subject",
    "body",
    "file_ids",
    "thread_id",
    "reply_to_message_id",
    "metadata",
    "tracking",
)


def draft_fields(body: dict[str, Any]) -> dict[str, Any]:
    return {key: body[key] for key in DRAFT_FIELDS if body.get(key) is not None}


def _timestamp(body: dict[str, Any], key: str) -> int | None:
    """`body[key]` as unix seconds; None when absent, null or 0."""
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidRequest(f'"{key}" should be a unix timestamp (seconds)')
    if not 0 <= value <= MAX_TIMESTAMP:
        raise InvalidRequest(f'"{key}" is out of range: {value}')
    return int(value) or None


def _times(
    body: dict[str, Any], moment: int, current: OutboxJob | None = None
) -> tuple[int, int | None]:
    """(send_at, retry limit) from the body; on an update, what it leaves out stays."""
    send_at = _timestamp(body, "send_at")
    if send_at is None:
        keep = current is not None and "send_at" not in body
        send_at = current.send_at if keep and current is not None else moment
    elif send_at < moment - PAST_TOLERANCE:
        raise InvalidRequest("Cannot set message to be sent at a time before the current time.")
    retry_limit = _timestamp(body, "retry_limit_datetime")
    if retry_limit is None and current is not None and "retry_limit_datetime" not in body:
        retry_limit = current.retry_limit
    if retry_limit is not None and retry_limit < send_at:
        raise InvalidRequest("Cannot set message to stop retrying before time to send at.")
    return send_at, retry_limit


def _check_message(session: Session, account: Account, payload: dict[str, Any]) -> None:
    """What a send would refuse (bad fields, no or bad recipients, unknown files), as a 400
    now; nothing is written."""
    with session.no_autoflush:
        inp = drafts.parse_input(session, account, payload, new=True)
        outbox.check_recipients(inp.to or [], inp.cc or [], inp.bcc or [])


def schedule(session: Session, account: Account, body: dict[str, Any]) -> OutboxJob:
    payload = draft_fields(body)
    _check_message(session, account, payload)
    send_at, retry_limit = _times(body, now())
    return jobs.create(session, account, payload, send_at, retry_limit)


def find(session: Session, account: Account, public_id: str) -> OutboxJob:
    job = jobs.find(session, account, public_id)
    if job is None:
        raise NotFound(f"Couldn't find job status {public_id}")
    return job


def _not_pending(job: OutboxJob, doing: str) -> Conflict:
    state = "being sent" if job.status == jobs.SENDING else job.status
    return Conflict(f"Cannot {doing} job {job.public_id}: it is {state}, not pending.")


def reschedule(
    session: Session, account: Account, public_id: str, body: dict[str, Any]
) -> OutboxJob:
    """A client's update (new fields replace the old ones), only while the job is pending."""
    job = find(session, account, public_id)
    if job.status != jobs.PENDING:
        raise _not_pending(job, "update")
    payload = {**job.payload, **draft_fields(body)}
    _check_message(session, account, payload)
    send_at, retry_limit = _times(body, now(), job)
    if not jobs.change_pending(session, job.id, payload, send_at, retry_limit):
        session.refresh(job)
        raise _not_pending(job, "update")
    session.refresh(job)
    return job


def cancel(session: Session, account: Account, public_id: str) -> OutboxJob:
    job = find(session, account, public_id)
    cancelled = jobs.cancel(session, job.id)
    session.refresh(job)
    if not cancelled:
        raise _not_pending(job, "cancel")
    return job


# ------------------------------------------------------------------------------ sending


class _JobWitness:
    """How far the send of a claimed job got (outbox.SendWitness), kept in the job's row
    by short sessions of their own."""

    def __init__(self, ctx: EngineContext, job_id: int) -> None:
        self.ctx = ctx
        self.job_id = job_id
        self.started = False  # DATA may have begun and the server's answer is not known
        self.sent: tuple[str, str | None] | None = None  # (message id, thread id)
        self.refused: str | None = None  # the recipients that refused it, if some did

    def starting(self, message_id: str) -> None:
        with self.ctx.db.session() as session:
            jobs.set_data_started(session, self.job_id, True)
        self.started = True

    def not_sent(self) -> None:
        with self.ctx.db.session() as session:
            jobs.set_data_started(session, self.job_id, False)
        self.started = False

    def accepted(self, message: Message, partial: SendError | None) -> None:
        thread = message.thread
        self.sent = (message.public_id, thread.public_id if thread is not None else None)
        if partial is not None:
            self.refused = _reason(partial)


@dataclass(frozen=True)
class Failure:
    reason: str
    transient: bool


def _failure(exc: BaseException) -> Failure:
    if isinstance(exc, SendError):
        return Failure(_reason(exc), exc.status >= 500 or exc.status == 429)
    if isinstance(exc, DomainError):
        return Failure(_reason(exc), False)
    return Failure(f"An error in the engine: {exc!r}", True)


def _reason(exc: DomainError) -> str:
    """The error a send would have answered, with the server's own words."""
    parts = [exc.message]
    if server_error := exc.extra.get("server_error"):
        parts.append(str(server_error))
    for address, details in (exc.extra.get("failures") or {}).items():
        parts.append(f"{address}: {' '.join(str(d) for d in details)}")
    return " | ".join(parts)


def backoff(attempts: int, base: float) -> float:
    return float(min(base * 2 ** max(attempts - 1, 0), RETRY_MAX))


def run_job(ctx: EngineContext, job_id: int, boot: str, retry_base: float) -> str | None:
    """Claim the job and send it; its new status, or None if someone else claimed it."""
    with ctx.db.session() as session:
        if not jobs.claim(session, job_id, boot, now()):
            return None
    witness = _JobWitness(ctx, job_id)
    failure: Failure | None = None
    session = ctx.db.sessions()
    try:
        job = session.get(OutboxJob, job_id)
        account = session.get(Account, job.account_id) if job is not None else None
        if job is None:
            return None
        payload = dict(job.payload)
        if account is None or account.deleted_at is not None:
            failure = Failure("The account no longer exists.", False)
        else:
            session.commit()  # nothing is held while SMTP talks
            outbox.send_inline(session, ctx, account, payload, witness)
    except Exception as exc:
        session.rollback()
        if witness.sent is None:
            failure = _failure(exc)
            if not isinstance(exc, DomainError):
                log.exception("outbox job %s: sending failed", job_id)
    finally:
        session.close()
    return _settle(ctx, job_id, witness, failure, retry_base)


def _settle(
    ctx: EngineContext,
    job_id: int,
    witness: _JobWitness,
    failure: Failure | None,
    retry_base: float,
) -> str:
    with ctx.db.session() as session:
        job = session.get(OutboxJob, job_id)
        assert job is not None
        if witness.sent is not None:
            jobs.succeed(session, job, *witness.sent, refused=witness.refused)
            return jobs.SUCCESSFUL
        if failure is None:  # the send returned without saying it went out: never again
            failure = Failure("The send ended without an answer from the server.", False)
        if witness.started:
            jobs.fail(session, job, f"{failure.reason} The message may have gone out.")
            return jobs.FAILED
        moment = now()
        limit = job.retry_limit
        if failure.transient and limit is not None and moment < limit:
            due_at = min(moment + int(backoff(job.attempts, retry_base)), limit)
            jobs.retry_later(session, job.id, due_at, failure.reason)
            return jobs.PENDING
        jobs.fail(session, job, failure.reason)
        return jobs.FAILED


def recover(ctx: EngineContext, boot: str, lease: float) -> None:
    """Jobs another engine left `sending` and no longer runs (its claim older than the
    lease): back to pending if DATA never started, failed if it may have."""
    with ctx.db.session() as session:
        for job in jobs.stale_claims(session, boot, now() - int(lease)):
            if job.data_started:
                reason = "The engine stopped while sending; the message may have gone out."
                jobs.fail(session, job, reason)
            else:
                jobs.retry_later(session, job.id, now(), "The engine stopped before sending.")
