"""What a `job.successful` / `job.failed` notification says about an outbox job, in the shape
of hosted v2 (the Node SDK's `WebhookObjectAttributes`): the delta is about a `message`, its
`object_data.id` is the job status id, and `attributes` carry the action, the job status id,
the sent message and thread ids, and `extras` (`send_at`, `original_send_at`, and the
`reason` a job failed)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from nylas_engine.store.outbox_jobs import JOB_OBJECT, by_public_ids

ACTION = "outbox"


def describe_jobs(session: Session, deltas: list[dict[str, Any]]) -> None:
    """Fill in the job deltas of a batch (they come in as object `job`)."""
    wanted = [d for d in deltas if d["object"] == JOB_OBJECT]
    if not wanted:
        return
    found = by_public_ids(session, {d["object_data"]["id"] for d in wanted})
    for delta in wanted:
        data = delta["object_data"]
        delta["object"] = data["object"] = "message"
        job = found.get(data["id"])
        if job is None:
            continue
        extras: dict[str, Any] = {"send_at": job.send_at, "original_send_at": job.original_send_at}
        if job.reason and delta["type"] == "job.failed":
            extras["reason"] = job.reason
        data["attributes"] = {
            "action": ACTION,
            "job_status_id": job.public_id,
            "message_id": job.message_id,
            "thread_id": job.thread_id,
            "extras": extras,
        }
