"""`nylas-engine demo`: demo accounts with a realistic mailbox, then serve them.

The account `demo@example.com` gets ~300 messages in ~100 threads (replies, attachments,
newsletters, receipts, user folders, and an emailed invitation to answer with `event.rsvp`),
contacts and a primary calendar with events. A second account, `my.friend@example.com` (the
address the seed README's examples write to), organizes that invitation. Mail goes through
`ingest_message` as real MIME, exactly like imported mail. Running the demo again reuses the
accounts and their data.

While the demo serves, both accounts send through a local mail sink (send/local_sink.py):
their mail really goes out over SMTP, lands in the sender's Sent folder, and a copy for the
other demo account lands in its inbox (an invitation becomes an event there, an RSVP answers
the organizer's event); mail for anyone else is accepted and dropped. The accounts' SMTP
setting points at the sink only while the demo runs; served otherwise (`nylas-engine serve`),
they have none, and a send says how to configure one.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from datetime import date, datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nylas_engine.calendar import ical
from nylas_engine.calendar.fields import event_changes
from nylas_engine.context import EngineContext
from nylas_engine.demo_data import DAY, HOUR, ME, PEOPLE, MailboxGenerator
from nylas_engine.send.local_sink import LocalMailSink
from nylas_engine.store.accounts import create_account, find_by_email
from nylas_engine.store.calendar import create_event
from nylas_engine.store.mail import category_by_role, get_or_create_category, ingest_message
from nylas_engine.store.models import Account, Calendar, Category, Contact, Event, Message, Thread

DEMO_EMAIL = ME[1]
FRIEND = ("My Friend", "my.friend@example.com")
INVITATION_ID = "<invitation.dinner@example.com>"
USER_FOLDERS = ["Receipts", "Projects/Alpha", "Travel"]


def create_demo(ctx: EngineContext, messages: int = 300, now: int | None = None) -> dict[str, Any]:
    """Create (or find) the demo account; returns its id, address and mail counts."""
    now = now or int(time.time()) // HOUR * HOUR
    with ctx.db.session() as session:
        account = find_by_email(session, DEMO_EMAIL)
        if account is None:
            account = create_account(session, DEMO_EMAIL, name=ME[0], provider="custom")
        has_mail = session.scalar(
            select(func.count(Message.id)).where(Message.account_id == account.id)
        )
        friend = find_by_email(session, FRIEND[1])
        if friend is None:
            friend = create_account(session, FRIEND[1], name=FRIEND[0], provider="custom")
        if not has_mail:
            # The invitation is one of the `messages`.
            _fill_mailbox(ctx, session, account, max(messages - 1, 1), now)
            _add_contacts(session, account)
            _add_events(session, account, now)
        if not _has_message(session, account, INVITATION_ID):
            _ship_invitation(ctx, session, organizer=friend, invitee=account, now=now)
        return {
            "account_id": account.public_id,
            "email_address": account.email_address,
            "friend_account_id": friend.public_id,
            "friend_email_address": friend.email_address,
            "messages": session.scalar(
                select(func.count(Message.id)).where(
                    Message.account_id == account.id, Message.is_draft.is_(False)
                )
            ),
            "threads": session.scalar(
                select(func.count(Thread.id)).where(Thread.account_id == account.id)
            ),
        }


def _fill_mailbox(
    ctx: EngineContext, session: Session, account: Account, messages: int, now: int
) -> None:
    folders: dict[str, Category] = {}
    for role in ("inbox", "sent", "archive"):
        category = category_by_role(session, account, role)
        if category is not None:
            folders[role] = category
    for name in USER_FOLDERS:
        folders[name] = get_or_create_category(session, account, name)
    for thread in MailboxGenerator(now, messages).threads():
        for item in thread.messages:
            ingest_message(
                session,
                ctx.blobs,
                account,
                item.raw,
                categories=[folders[item.folder]],
                unread=item.unread,
                starred=item.starred,
                is_sent=item.folder == "sent",
            )


def _has_message(session: Session, account: Account, message_id: str) -> bool:
    found = session.scalar(
        select(Message.id).where(
            Message.account_id == account.id, Message.message_id_header == message_id
        )
    )
    return found is not None


def _ship_invitation(
    ctx: EngineContext, session: Session, *, organizer: Account, invitee: Account, now: int
) -> None:
    """An event in the organizer's calendar, and its emailed invitation (an iCalendar
    REQUEST, as the engine sends them) received in the invitee's inbox: there it is an event
    of the "Emailed events" calendar that `event.rsvp(...)` answers, and the answer goes to
    the organizer (through the demo's mail sink) and is recorded on the organizer's event."""
    calendar = session.scalar(
        select(Calendar).where(Calendar.account_id == organizer.id, Calendar.is_primary.is_(True))
    )
    if calendar is None:
        return
    day = datetime.fromtimestamp(now, timezone.utc).date() + timedelta(days=3)
    start = int(datetime(day.year, day.month, day.day, 19, tzinfo=timezone.utc).timestamp())
    host = (organizer.name or "", organizer.email_address)
    guest = {"name": invitee.name or "", "email": invitee.email_address, "status": "noreply"}
    body = {
        "title": "Dinner at Trattoria Vela",
        "description": "Table for two at seven. Let me know if that works!",
        "location": "Trattoria Vela",
        "when": {"start_time": start, "end_time": start + 2 * HOUR},
        "participants": [{"name": host[0], "email": host[1], "status": "yes"}, guest],
    }
    event = create_event(session, organizer, calendar, event_changes(body, creating=True))
    ics = ical.invitation_calendar(
        method="REQUEST",
        uid=event.ical_uid or f"{event.public_id}@nylas-engine",
        sequence=0,
        when=event.when,
        recurrence=None,
        title=event.title,
        description=event.description,
        location=event.location,
        busy=True,
        organizer=host,
        attendees=event.participants or [],
    )
    message = ical.invitation_message(
        organizer=host,
        recipients=[guest],
        kind="new",
        title=event.title,
        when=event.when,
        location=event.location,
        ics=ics,
    )
    message.replace_header("Message-ID", INVITATION_ID)
    sent = datetime.fromtimestamp(now - 2 * HOUR, timezone.utc)
    message.replace_header("Date", format_datetime(sent))
    ingest_message(session, ctx.blobs, invitee, message.as_bytes(), unread=True)


def _add_contacts(session: Session, account: Account) -> None:
    for person in PEOPLE:
        session.add(
            Contact(
                account_id=account.id,
                given_name=person.given,
                surname=person.surname,
                company_name=person.company,
                job_title=person.title,
                emails=[{"type": "work", "email": person.email}],
                phone_numbers=[{"type": "mobile", "number": person.phone}],
                source="address_book",
            )
        )


def _add_events(session: Session, account: Account, now: int) -> None:
    calendar = session.scalar(
        select(Calendar).where(Calendar.account_id == account.id, Calendar.is_primary.is_(True))
    )
    if calendar is None:
        return
    owner = f"{ME[0]} <{ME[1]}>"
    today = datetime.fromtimestamp(now, timezone.utc).date()
    morning = int(datetime(today.year, today.month, today.day, tzinfo=timezone.utc).timestamp())

    def participants(*indexes: int) -> list[dict[str, Any]]:
        statuses = ["yes", "maybe", "noreply", "no"]
        return [
            {
                "name": PEOPLE[i].name,
                "email": PEOPLE[i].email,
                "status": statuses[(i + n) % len(statuses)],
                "comment": None,
            }
            for n, i in enumerate(indexes)
        ]

    def add(title: str, when: dict[str, Any], start: int, end: int, **extra: Any) -> None:
        session.add(
            Event(
                account_id=account.id,
                calendar_id=calendar.id,
                title=title,
                owner=owner,
                when=when,
                start_ts=start,
                end_ts=end,
                **extra,
            )
        )

    def timespan(title: str, day: int, hour: int, hours: float, *people: int, **extra: Any) -> None:
        start = morning + day * DAY + hour * HOUR
        end = start + int(hours * HOUR)
        when = {"object": "timespan", "start_time": start, "end_time": end}
        add(title, when, start, end, participants=participants(*people), **extra)

    def all_day(title: str, first: date, last: date | None = None, **extra: Any) -> None:
        start = int(datetime(first.year, first.month, first.day, tzinfo=timezone.utc).timestamp())
        if last is None or last == first:
            when: dict[str, Any] = {"object": "date", "date": first.isoformat()}
            end = start + DAY
        else:
            when = {
                "object": "datespan",
                "start_date": first.isoformat(),
                "end_date": last.isoformat(),
            }
            end = start + ((last - first).days + 1) * DAY
        add(title, when, start, end, participants=[], busy=False, **extra)

    monday = today - timedelta(days=today.weekday())
    weekly_start = int(
        datetime(monday.year, monday.month, monday.day, 9, 30, tzinfo=timezone.utc).timestamp()
    )
    add(
        "Team standup",
        {"object": "timespan", "start_time": weekly_start, "end_time": weekly_start + 900},
        weekly_start,
        weekly_start + 900,
        participants=participants(0, 3, 6, 12),
        location="Video call",
        description="Fifteen minutes: yesterday, today, blockers.",
        recurrence={"rrule": ["RRULE:FREQ=WEEKLY;COUNT=10"], "timezone": "UTC"},
    )
    timespan("1:1 with Ada", -6, 15, 0.5, 0, location="Ada's office")
    timespan("Design review: onboarding", -4, 13, 1, 1, 2, location="Room 4B")
    timespan("Lunch with Luca", -2, 12, 1.5, 11, location="Trattoria Vela")
    timespan("Customer call: Kontor", -1, 10, 1, 4, description="Renewal and pricing questions.")
    timespan("Budget review", 0, 14, 1, 10, 0, location="Room 2A")
    timespan("Interview: backend engineer", 1, 11, 1, 8, 3)
    timespan("Sprint planning", 2, 10, 2, 0, 3, 6, 12, location="Big room")
    timespan("Dentist", 3, 8, 1, busy=True, description="Bring the insurance card.")
    timespan("Alpha milestone demo", 5, 16, 1, 0, 2, 7, location="Video call")
    timespan("Coffee with Farah", 7, 9, 0.5, 5, location="Corner café")
    timespan("Contract signing", 9, 15, 1, 5, 9, status="tentative")
    timespan("Board prep", 11, 13, 2, 0, 10)
    timespan("Quarterly all-hands", 14, 17, 1.5, 0, 3, 6, 10, 12, location="Auditorium")
    timespan("Cancelled: vendor pitch", 4, 11, 1, 9, status="cancelled")
    all_day("Company holiday", today + timedelta(days=12))
    all_day("Kemi's birthday", today + timedelta(days=6))
    all_day("Team offsite in Lisbon", today + timedelta(days=20), today + timedelta(days=22))
    all_day("Conference: DataConf", today + timedelta(days=30), today + timedelta(days=32))
    all_day("Vacation", today - timedelta(days=18), today - timedelta(days=14))


# ------------------------------------------------------------------------------ CLI


def banner(
    account_id: str, url: str, ca: Path | None = None, sink: LocalMailSink | None = None
) -> str:
    curl = f"curl --cacert {ca}" if ca else "curl"
    lines = [
        f"Demo account: {DEMO_EMAIL}",
        f"Account id (your token in open mode): {account_id}",
        "",
        "Try it:",
        f"  {curl} -u {account_id}: '{url}threads?limit=3'",
        "",
        "  from nylas import APIClient",
        f"  client = APIClient(None, None, '{account_id}', '{url}')",
        "  print([t.subject for t in client.threads.all(limit=3)])",
        "",
    ]
    if sink is not None:
        lines += [
            f"Mail sent from the demo accounts goes to a local mail sink (SMTP on "
            f"{sink.host}:{sink.port}):",
            f"mail to {DEMO_EMAIL} or {FRIEND[1]} lands in that account's inbox, mail to",
            "anyone else is accepted and dropped; every send is filed in the sender's Sent.",
            "",
        ]
    return "\n".join(lines)


def cmd_demo(args: argparse.Namespace) -> None:
    from nylas_engine.cli import _is_loopback, _settings, listen, serve

    settings = _settings(args)
    if not args.no_serve and not _is_loopback(args.host):
        raise SystemExit(
            "nylas-engine demo serves in open mode (the account id is the token), "
            "so it only binds to loopback addresses such as 127.0.0.1."
        )
    settings.auth_mode = "open"
    # The port (and certificate) first: a taken port is said before anything else is.
    listener = None if args.no_serve else listen(args, settings)
    ctx = EngineContext.open(settings)
    summary = create_demo(ctx, messages=args.messages)
    if args.no_serve:
        if args.json:
            print(json.dumps(summary))
        else:
            print(
                f"{summary['account_id']}  {summary['email_address']}  "
                f"{summary['messages']} messages in {summary['threads']} threads"
            )
        return
    assert listener is not None
    ca = listener.tls.ca if listener.tls else None
    # uvicorn stops on SIGTERM, then raises it again: as SystemExit, so the `finally` runs.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    with LocalMailSink(ctx, demo_accounts(ctx)) as sink:
        send_through(ctx, sink)
        try:
            serve(
                settings,
                listener,
                banner=banner(summary["account_id"], listener.url, ca, sink),
                ctx=ctx,
            )
        finally:
            send_through(ctx, None)


def demo_accounts(ctx: EngineContext) -> dict[str, int]:
    """The demo's accounts that exist: email -> account id."""
    with ctx.db.session() as session:
        found = (find_by_email(session, email) for email in (DEMO_EMAIL, FRIEND[1]))
        return {a.email_address: a.id for a in found if a is not None}


def send_through(ctx: EngineContext, sink: LocalMailSink | None) -> None:
    """Point the demo accounts' SMTP setting at `sink`, or (None) take it away: a send when
    no demo runs says the account has no SMTP server, rather than trying a dead port."""
    accounts = demo_accounts(ctx)
    with ctx.db.session() as session:
        for account_id in accounts.values():
            account = session.get(Account, account_id)
            if account is not None:
                account.smtp_host = sink.host if sink is not None else None
                account.smtp_port = sink.port if sink is not None else None
