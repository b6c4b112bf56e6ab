"""Idempotency keys (the SQL behind api/idempotency.py), kept the way Stripe keeps them.

* A key belongs to a principal, not to the text of a header: the account (and the app) an
  access token or open-mode account id opens, or an app's client secret. `Bearer T`,
  `bearer T` and `Basic base64(T:)` are one principal. The `scope` column holds the SHA-256
  of the principal, so a wrong secret lands in a namespace of its own and can never see, or
  spoil, the keys of the real one.
* A key is bound to one request: the SHA-256 of its method, path, query and body. Reusing it
  for another request is a mismatch (422), never the first request's reply.
* The first request claims the key (a unique row); while it runs, a retry is told "in
  progress" (409). Its reply is stored once final, and replayed until the key expires
  (`ttl`, 24 h): expired rows are purged as keys are claimed.
* Each claim is an `attempt` (an id naming the engine process that runs it). A request
  that never finished (its engine was killed) holds the key only for a lease (`lease`, 60 s
  from its claim) unless the engine running it says it is still running; after that a
  retry takes the key over (a new attempt) and runs again, except when the request was a
  send whose SMTP DATA had started: its Message-ID was committed first (`send_starting`),
  and such a key gets a final 409 "outcome unknown" instead, since the message may have
  gone out and must not be sent twice.
* Every later write of an attempt names it: one whose key was taken over changes nothing,
  and its send stops before DATA (`send_starting` is False).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from nylas_engine.store.auth import find_token
from nylas_engine.store.models import Account, IdempotentResponse, now


def fingerprint(method: str, path: str, query: bytes, body_digest: str) -> str:
    """What a key is bound to: the request itself (its headers aside), the body given by
    its SHA-256 hex."""
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode("utf-8", "surrogatepass"), query):
        digest.update(len(part).to_bytes(8, "big") + part)
    digest.update(body_digest.encode())
    return digest.hexdigest()


def token_principal(session: Session, token: str, auth_mode: str) -> str | None:
    """The principal of an access token (or, in open mode, an account id): the account and
    the app that holds the token. None when the token opens nothing (the request will be
    refused, and its key is not kept)."""
    row = find_token(session, token)
    if row is not None:
        return f"account:{row.account.public_id}:app:{row.app_id or '-'}"
    if auth_mode == "open":
        found = session.scalar(select(Account.public_id).where(Account.public_id == token))
        return f"account:{found}:app:-" if found is not None else None
    return None


def secret_principal(client_id: str, secret: str) -> str:
    """The principal of a client secret presented for `client_id` (not checked here: a
    wrong one is a principal of its own that nothing real shares)."""
    return f"app:{client_id}:{hashlib.sha256(secret.encode()).hexdigest()}"


@dataclass
class Claim:
    """The outcome of presenting a key: `kind` is "claimed" (run the request, `row_id` is
    its row), "replay" (send `status`, `content_type`, `body`), "in_progress" or
    "mismatch" (the key was used for `method` `path` with another request)."""

    kind: str
    row_id: int = 0
    attempt: str = ""
    status: int = 0
    content_type: str = "application/json"
    body: bytes = b""
    method: str = ""
    path: str = ""


def claim(
    session: Session,
    principal: str,
    key: str,
    fingerprint: str,
    method: str,
    path: str,
    *,
    attempt: str,
    running: Callable[[str], bool | None],
    ttl: float,
    lease: float,
) -> Claim:
    """Take `key` for this request as `attempt`, or say why not (see `Claim`). `running`
    tells whether an attempt is still running: True, False, or None when it can't tell
    (another engine's), which the lease then decides."""
    scope = hashlib.sha256(principal.encode()).hexdigest()
    moment = now()
    session.execute(
        delete(IdempotentResponse)
        .where(IdempotentResponse.created_at < moment - ttl)
        .execution_options(synchronize_session=False)
    )
    try:
        with session.begin_nested():
            row = IdempotentResponse(
                scope=scope,
                key=key,
                method=method,
                path=_storable(path),
                fingerprint=fingerprint,
                created_at=moment,
                claimed_at=moment,
                attempt=attempt,
            )
            session.add(row)
        return Claim("claimed", row.id, attempt)
    except IntegrityError:
        pass
    found = session.scalar(
        select(IdempotentResponse).where(
            IdempotentResponse.scope == scope, IdempotentResponse.key == key
        )
    )
    if found is None:  # expired and purged by another claim in between: try again
        return Claim("in_progress")
    if found.fingerprint != fingerprint:
        return Claim("mismatch", method=found.method, path=found.path)
    if found.status_code:
        return _replay(found)
    alive = running(found.attempt)
    if alive or (alive is None and moment - found.claimed_at < lease):
        return Claim("in_progress")
    if found.send_message_id is not None:
        _settle_unknown(found)
        return _replay(found)
    # The attempt holding the key died; take it over (only one retry can).
    taken = session.execute(
        update(IdempotentResponse)
        .where(
            IdempotentResponse.id == found.id,
            IdempotentResponse.attempt == found.attempt,
            IdempotentResponse.status_code == 0,
        )
        .values(claimed_at=moment, attempt=attempt)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        return Claim("in_progress")
    return Claim("claimed", found.id, attempt)


def _storable(path: str) -> str:
    """The path as any database can keep it (no NUL, no lone surrogate), cut to the column."""
    text = path.encode("utf-8", "backslashreplace").decode("utf-8")
    return text.replace("\x00", "\\x00")[:2048]


def _replay(row: IdempotentResponse) -> Claim:
    return Claim(
        "replay", row.id, status=row.status_code, content_type=row.content_type, body=row.body
    )


def _mine(row_id: int, attempt: str) -> tuple[Any, ...]:
    return (IdempotentResponse.id == row_id, IdempotentResponse.attempt == attempt)


def settle(
    session: Session, row_id: int, attempt: str, status: int, content_type: str, body: bytes
) -> None:
    """Keep a final reply for the key (replayed to every retry until it expires)."""
    session.execute(
        update(IdempotentResponse)
        .where(*_mine(row_id, attempt))
        .values(status_code=status, content_type=content_type, body=body)
        .execution_options(synchronize_session=False)
    )


def release(session: Session, row_id: int, attempt: str) -> None:
    """The request ended without a final reply (5xx, 429, or a reply not to be kept): a
    retry may run it again, unless it was a send whose SMTP DATA had started."""
    row = session.scalar(select(IdempotentResponse).where(*_mine(row_id, attempt)))
    if row is None or row.status_code:
        return
    if row.send_message_id is not None:
        _settle_unknown(row)
    else:
        session.delete(row)


def send_starting(session: Session, row_id: int, attempt: str, message_id: str) -> bool:
    """Record, before SMTP DATA, that the request's message may go out from now on; False
    when the key is no longer this attempt's (then the message must not go out)."""
    result = session.execute(
        update(IdempotentResponse)
        .where(
            *_mine(row_id, attempt),
            IdempotentResponse.status_code == 0,
            IdempotentResponse.send_message_id.is_(None),
        )
        .values(send_message_id=message_id)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def send_not_started(session: Session, row_id: int, attempt: str) -> None:
    """The SMTP server refused the DATA (a reply, not a lost connection): nothing went out."""
    session.execute(
        update(IdempotentResponse)
        .where(*_mine(row_id, attempt), IdempotentResponse.status_code == 0)
        .values(send_message_id=None)
        .execution_options(synchronize_session=False)
    )


def _settle_unknown(row: IdempotentResponse) -> None:
    row.status_code = 409
    row.content_type = "application/json"
    row.body = json.dumps(
        {
            "message": (
                "The send made with this Idempotency-Key was interrupted after its message "
                f"(Message-ID {row.send_message_id}) was handed to the SMTP server, so "
                "whether it was delivered is unknown. It will not be sent again under this "
                "key: look for it in the Sent folder or ask the recipient, and use a new key "
                "to send it again."
            ),
            "type": "invalid_request_error",
            "message_id": row.send_message_id,
        }
    ).encode()
