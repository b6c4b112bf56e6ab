"""Outbox jobs as hosted v2 showed them: the outbox's reply (`/v2/outbox`, what the SDKs'
`OutboxJobStatus` reads) and the job status (`/job-statuses`, the SDKs' `JobStatus`; an
outbox job has `object: "message"`, which the Node SDK turns into an `OutboxJobStatus`).

A job being sent shows as `pending` (hosted had pending, successful and failed); a cancelled
one as `cancelled`. The outbox reply carries no `object`: nylas-legacy drops a reply whose
`object` isn't its model's.
"""

from __future__ import annotations

from typing import Any

from nylas_engine.store import outbox_jobs as jobs
from nylas_engine.store.models import Account, OutboxJob

ACTION = "outbox"


def public_status(job: OutboxJob) -> str:
    return jobs.PENDING if job.status == jobs.SENDING else job.status


def original_data(job: OutboxJob) -> dict[str, Any]:
    return {
        **job.payload,
        "send_at": job.send_at,
        "retry_limit_datetime": job.retry_limit or 0,
        "original_send_at": job.original_send_at,
    }


def outbox_json(job: OutboxJob, account: Account) -> dict[str, Any]:
    return {
        "account_id": account.public_id,
        "job_status_id": job.public_id,
        "status": public_status(job),
        "send_at": job.send_at,
        "original_send_at": job.original_send_at,
        "message_id": job.message_id,
        "thread_id": job.thread_id,
        "original_data": original_data(job),
    }


def job_metadata(job: OutboxJob) -> dict[str, Any]:
    """Why a job failed or was retried, and how many tries it took."""
    found: dict[str, Any] = {"attempts": job.attempts}
    if job.reason:
        found["reason"] = job.reason
    return found


def job_status_json(job: OutboxJob, account: Account) -> dict[str, Any]:
    return {
        "id": job.public_id,
        "object": "message",
        "account_id": account.public_id,
        "job_status_id": job.public_id,
        "action": ACTION,
        "status": public_status(job),
        "created_at": job.created_at,
        "send_at": job.send_at,
        "original_send_at": job.original_send_at,
        "message_id": job.message_id,
        "thread_id": job.thread_id,
        "original_data": original_data(job),
        "metadata": job_metadata(job),
    }
