"""Turning the delta log into webhook notifications (docs/protocol.md §16.4).

Object changes come from the delta log, so whatever wrote them (the API, IMAP sync, import)
is announced the same way; an app hears only of the object types its tokens for the account
may read (their scopes, `api.scopes`). Account triggers come from the account's sync state,
which is compared with the one last announced: `running`, `invalid`, `stopped`, and `sync_error` for
a connection failure; `account.connected` when an account is linked to the app (its first
token) after the webhook was made. `job.successful` / `job.failed` announce an outbox job's
outcome (its `job` row in the delta log, store/outbox_jobs.py), as a `message` whose id is
the job status id. Tracking triggers are accepted but never fire: the engine does no tracking.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from nylas_engine.scopes import Grants
from nylas_engine.store.models import Webhook, now
from nylas_engine.store.outbox_jobs import FAILED, JOB_OBJECT, OUTCOME_COMMANDS, SUCCESSFUL
from nylas_engine.store.webhooks import (
    Linked,
    granted_scopes,
    last_transaction,
    linked_accounts,
    message_attributes,
    transactions_after,
)
from nylas_engine.webhooks.jobs import describe_jobs

BATCH = 100  # deltas per notification at most

OBJECT_TRIGGERS = {
    ("message", "insert"): "message.created",
    ("message", "update"): "message.updated",
    (JOB_OBJECT, OUTCOME_COMMANDS[SUCCESSFUL]): "job.successful",
    (JOB_OBJECT, OUTCOME_COMMANDS[FAILED]): "job.failed",
    **{
        (kind, command): f"{kind}.{word}"
        for kind in ("contact", "calendar", "event")
        for command, word in (("insert", "created"), ("update", "updated"), ("delete", "deleted"))
    },
}
STATE_TRIGGERS = {
    "running": "account.running",
    "invalid": "account.invalid",
    "stopped": "account.stopped",
    "connerror": "account.sync_error",
}


@dataclass
class Batch:
    """The next notification of one webhook, and where its cursors move once it is out."""

    deltas: list[dict[str, Any]] = field(default_factory=list)
    # {account id: (last delta-log row covered, sync state announced)}
    moves: dict[int, tuple[int, str]] = field(default_factory=dict)
    full: bool = False  # more is waiting after this one


def next_batch(session: Session, webhook: Webhook, limit: int = BATCH) -> Batch:
    """Read-only: nothing is recorded until the caller has delivered it (`save_cursors`)."""
    batch = Batch()
    wanted = set(webhook.triggers or [])

    def announce(trigger: str, kind: str, public_id: str, account_id: str, date: int) -> None:
        if trigger in wanted:
            batch.deltas.append(_delta(trigger, kind, public_id, account_id, date))

    cursors: dict[int, int] = {}
    by_id: dict[int, Linked] = {}
    for account in linked_accounts(session, webhook):
        by_id[account.account_id] = account
        cursor, announced = account.cursor, account.announced_state
        if cursor is None:  # linked to the app after the webhook was made
            since = max(webhook.created_at, account.linked_at)
            cursor = last_transaction(session, account.account_id, before=since)
            announced = account.sync_state
            batch.moves[account.account_id] = (cursor, announced)
            announce("account.connected", "account", account.public_id, account.public_id, since)
        if account.sync_state != announced:
            if trigger := STATE_TRIGGERS.get(account.sync_state):
                announce(trigger, "account", account.public_id, account.public_id, now())
            batch.moves[account.account_id] = (cursor, account.sync_state)
        cursors[account.account_id] = cursor

    rows = transactions_after(session, cursors, limit)
    if not rows:
        return batch
    batch.full = len(rows) == limit
    hidden = {
        account_id: Grants.parse(scopes).hidden_delta_types()
        for account_id, scopes in granted_scopes(session, webhook).items()
    }
    for txn, account_public_id in rows:
        batch.moves[txn.account_id] = (txn.id, by_id[txn.account_id].sync_state)
        trigger = OBJECT_TRIGGERS.get((txn.object_type, txn.command))
        if trigger is None or txn.object_type in hidden.get(txn.account_id, ()):
            continue  # no trigger, or outside the scopes the account granted the app
        announce(trigger, txn.object_type, txn.object_public_id, account_public_id, txn.created_at)
    messages = {d["object_data"]["id"] for d in batch.deltas if d["object"] == "message"}
    attributes = message_attributes(session, set(cursors), messages)
    for delta in batch.deltas:
        data = delta["object_data"]
        if data["object"] == "message":
            data["attributes"] = attributes.get(data["id"])
    describe_jobs(session, batch.deltas)
    return batch


def _delta(
    trigger: str, object_type: str, public_id: str, account_public_id: str, date: int
) -> dict[str, Any]:
    return {
        "date": date,
        "object": object_type,
        "type": trigger,
        "object_data": {
            "id": public_id,
            "object": object_type,
            "account_id": account_public_id,
            "namespace_id": account_public_id,
            "metadata": None,
            "attributes": None,
        },
    }
