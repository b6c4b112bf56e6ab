"""What free-busy and availability read (calendar/availability.py computes with it): whose
calendars a request may see, and the busy spans of an account's events.

Visibility: an account always sees its own busy times. Hosted v2 answered for other people
of the same organization through the provider; here the nearest thing is the other accounts
the same app holds tokens for, whose events that app can already read. So a request made
with a token an app issued also sees the busy times (never the events) of the engine's
other accounts that have a live token from that app; a request made with an account id
(open mode) or a token issued without an app sees only its own. An email the request may
not see answers as an email the engine does not know: empty, so nothing tells them apart.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from nylas_engine.security import digest
from nylas_engine.store.calendar import EventFilter, Instance, expanded_events
from nylas_engine.store.models import AccessToken, Account, Calendar

Span = tuple[int, int]


def token_app(session: Session, token: str) -> int | None:
    """The internal id of the app that issued `token`, if an app did."""
    found: int | None = session.scalar(
        select(AccessToken.app_id).where(
            AccessToken.token_hash == digest(token), AccessToken.revoked_at.is_(None)
        )
    )
    return found


def _same_app(account: Account, app_id: int | None) -> Select[Any]:
    stmt = select(Account).where(Account.deleted_at.is_(None))
    if app_id is None:
        return stmt.where(Account.id == account.id)
    holders = select(AccessToken.account_id).where(
        AccessToken.app_id == app_id, AccessToken.revoked_at.is_(None)
    )
    return stmt.where((Account.id == account.id) | Account.id.in_(holders))


def visible_by_email(
    session: Session, account: Account, app_id: int | None, emails: list[str]
) -> dict[str, Account]:
    """The accounts among `emails` (lower case) whose busy times this request may read."""
    if not emails:
        return {}
    stmt = _same_app(account, app_id).where(func.lower(Account.email_address).in_(emails))
    found: dict[str, Account] = {}
    for row in session.scalars(stmt.order_by(Account.id)):
        # Two accounts with one address: the requester's own wins, then the oldest.
        key = row.email_address.lower()
        if key not in found or row.id == account.id:
            found[key] = row
    return found


def visible_by_id(
    session: Session, account: Account, app_id: int | None, public_id: str
) -> Account | None:
    found: Account | None = session.scalar(
        _same_app(account, app_id).where(Account.public_id == public_id)
    )
    return found


def calendar_ids(session: Session, account: Account, public_ids: tuple[str, ...]) -> set[str]:
    """Which of `public_ids` are live calendars of `account`."""
    return set(
        session.scalars(
            select(Calendar.public_id).where(
                Calendar.account_id == account.id,
                Calendar.deleted_at.is_(None),
                Calendar.public_id.in_(public_ids),
            )
        )
    )


def busy_spans(
    session: Session,
    account: Account,
    start: int,
    end: int,
    *,
    calendars: set[str] | None = None,
    tentative_busy: bool = True,
) -> list[Span]:
    """[start, end) of every busy, not cancelled event of the account overlapping the window
    (recurring series expanded, all-day events as their UTC days), optionally only in the
    calendars with those public ids."""
    rows = expanded_events(
        session, account, EventFilter(busy=True, ends_after=start, starts_before=end)
    )
    spans = []
    for row in rows:
        event = row.master if isinstance(row, Instance) else row
        if calendars is not None and event.calendar.public_id not in calendars:
            continue
        if event.status == "tentative" and not tentative_busy:
            continue
        if row.end_ts > row.start_ts:
            spans.append((row.start_ts, row.end_ts))
    return spans
