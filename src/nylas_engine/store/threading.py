"""Which thread a new message joins, and a thread's aggregates (subject, timestamps).

A message joins, in order:
1. the thread of a message we hold that it names in References or In-Reply-To (or a copy of
   itself), or of a message we hold that names it (its reply, when mail arrives newest
   first, as an IMAP sync fetches it);
2. otherwise a thread with the same subject (ignoring Re:/Fwd: prefixes) whose messages are
   within ~30 days and share participants with this one (the old sync engine's rule);
3. otherwise a new thread.

On Gmail (sync/gmail.py) the server says which thread a message is in (X-GM-THRID): such a
message joins the thread of that id, or starts it, and the rules above are not asked.

`Threader` places a whole batch of messages with a few queries made up front (one for the
references, one for the subjects, one for the candidates' participants) and keeps what the
batch adds in memory, so a batch's messages thread with each other without a flush between
them.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from sqlalchemy import Text, cast, select
from sqlalchemy.orm import Session, lazyload

from nylas_engine.ids import new_public_id
from nylas_engine.mime.parse import ParsedMessage
from nylas_engine.store.models import Account, Message, Thread, now

SUBJECT_WINDOW = 30 * 24 * 3600
_REPLY_PREFIX = re.compile(r"^(?:re|fwd?|aw|sv|wg)(?:\s*\[\d+\])?\s*:\s*", re.IGNORECASE)
T = TypeVar("T")
_IN_CHUNK = 400  # keeps each IN (...) under every database's parameter limit


@dataclass(eq=False, slots=True)
class NewThread:
    """A thread a batch starts: the columns `Thread` is inserted with, as a plain object.
    It is never in the session: the caller INSERTs it with the batch's messages and sets
    `id` (an ORM `Thread` costs several times as much to build and to update, and a first
    sync starts a thread for most of its messages)."""

    public_id: str
    account_id: int
    subject: str | None
    subject_key: str | None
    version: int
    created_at: int
    gm_thrid: int | None
    first_message_ts: int | None = None
    last_message_ts: int | None = None
    last_received_ts: int | None = None
    last_sent_ts: int | None = None
    id: int | None = None
    deleted_at: int | None = None
    messages: tuple[Any, ...] = ()  # none in the database yet


# A thread a message is placed in: one the store holds, or one its batch starts.
AnyThread = Thread | NewThread


class Placed(Protocol):
    """A message as threading sees it: an ORM `Message`, or one not inserted yet."""

    @property
    def subject(self) -> str: ...
    @property
    def date(self) -> int: ...
    @property
    def is_sent(self) -> bool: ...
    @property
    def is_draft(self) -> bool: ...
    @property
    def id(self) -> int | None: ...
    @property
    def deleted_at(self) -> int | None: ...


class Placing(Placed, Protocol):
    """A message being placed: `place` sets its thread."""

    thread: AnyThread | None


def normalize_subject(subject: str | None) -> str:
    """The subject without reply/forward prefixes, whitespace collapsed, lowercased."""
    value = " ".join((subject or "").split())
    while (stripped := _REPLY_PREFIX.sub("", value, count=1)) != value:
        value = stripped
    return value.lower()


def subject_key(subject: str | None) -> str | None:
    """What `Thread.subject_key` holds: the normalized subject, cut to the column's width."""
    return normalize_subject(subject)[:255] or None


def people(*lists: Iterable[dict[str, str]]) -> set[str]:
    return {(p.get("email") or "").lower() for group in lists for p in group if p.get("email")}


def _references(parsed: ParsedMessage) -> list[str]:
    """The Message-IDs that tie `parsed` to a thread we hold: the ones it names, and its own
    (a copy of a message we already hold)."""
    refs = [r for r in [*parsed.references, parsed.in_reply_to, parsed.message_id] if r]
    return list(dict.fromkeys(refs))


def _chunks(items: Sequence[T], size: int = _IN_CHUNK) -> Iterable[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Threader:
    """Places the messages of one batch (all for one account) into threads.

    Built with every parsed message of the batch, it reads what it needs from the store
    once; `place` is then called for each message and touches the database no more. New
    threads are left out of the session (`created`), for the caller to insert in one
    statement with the messages (`NewThread`); changed ones are in it, to be flushed.
    """

    def __init__(
        self,
        session: Session,
        account: Account,
        batch: Sequence[ParsedMessage],
        gm_thrids: Sequence[int | None] = (),
    ) -> None:
        self.session = session
        self.account = account
        self.by_msgid: dict[str, tuple[int, AnyThread]] = {}  # Message-ID -> (date, thread)
        self.by_reply: dict[str, AnyThread] = {}  # Message-ID -> thread of a message naming it
        self.by_subject: dict[str, list[AnyThread]] = defaultdict(list)
        self.people: dict[int, list[set[str]]] = defaultdict(list)  # id(thread) -> people
        self.created: list[NewThread] = []  # not in the session: the caller inserts them
        self.changed: dict[int, Thread] = {}  # id(thread) -> a thread of ours this batch changed
        self.added: dict[int, list[Placed]] = defaultdict(list)  # id(thread) -> its new messages
        self.by_gm_thrid: dict[int, AnyThread] = {}  # Gmail's thread id -> its thread
        # Thread id -> (first, last message date) of a stored thread before this batch
        # changed it: where the batch's messages all come after (or before) those, its
        # summary grows from the stored one (see `thread_summary.grown`).
        self.before: dict[int, tuple[int | None, int | None]] = {}
        with session.no_autoflush:
            self._load(batch)
            self._load_gm_threads([t for t in gm_thrids if t is not None])

    # ------------------------------------------------------------------ up-front reads

    def _load(self, batch: Sequence[ParsedMessage]) -> None:
        account_id = self.account.id
        refs = list(dict.fromkeys(r for p in batch for r in _references(p)))
        own_ids = list(dict.fromkeys(p.message_id for p in batch if p.message_id))
        held: list[tuple[str | None, int, int | None, str]] = []  # (header, date, thread id, how)
        for column, values, how in (
            (Message.message_id_header, refs, "id"),  # messages this batch names
            (Message.in_reply_to, own_ids, "reply"),  # messages that name one of this batch
        ):
            for chunk in _chunks(values):
                rows = self.session.execute(
                    select(column, Message.date, Message.thread_id).where(
                        Message.account_id == account_id,
                        column.in_(chunk),
                        Message.thread_id.is_not(None),
                    )
                )
                held.extend((header, date, thread_id, how) for header, date, thread_id in rows)

        threads: dict[int, Thread] = {}
        for ids in _chunks(sorted({t for _, _, t, _ in held if t is not None})):
            threads.update(
                (t.id, t)
                for t in self.session.scalars(
                    select(Thread)
                    .where(Thread.id.in_(ids), Thread.deleted_at.is_(None))
                    .options(lazyload(Thread.messages))
                )
            )
        for header, date, thread_id, how in held:
            thread = threads.get(thread_id) if thread_id is not None else None
            if header is None or thread is None:
                continue
            if how == "reply":
                self.by_reply.setdefault(header, thread)
            elif header not in self.by_msgid or self.by_msgid[header][0] < date:
                self.by_msgid[header] = (date, thread)

        # Threads by subject, and their people, only for the messages that nothing we hold
        # ties to a thread (`_find` asks the subject last): a reply into a long thread
        # would else read the people of every one of its messages.
        loose = [p for p in batch if self._tied_thread(p) is None]
        keys = list({k for p in loose if (k := subject_key(p.subject))})
        dates = [p.date for p in loose]
        candidates: list[Thread] = []
        if keys and dates:
            for chunk in _chunks(keys):
                candidates.extend(
                    self.session.scalars(
                        select(Thread)
                        .where(
                            Thread.account_id == account_id,
                            Thread.subject_key.in_(chunk),
                            Thread.deleted_at.is_(None),
                            # `+ 0`: no index on the dates, so the subject's is used.
                            # SQLite would else walk the account's threads by their last
                            # date, a range that in a first sync holds nearly all of them
                            # (ever more threads read with each batch stored).
                            Thread.last_message_ts + 0 >= min(dates) - SUBJECT_WINDOW,
                            Thread.first_message_ts + 0 <= max(dates) + SUBJECT_WINDOW,
                        )
                        .options(lazyload(Thread.messages))
                    )
                )
        for thread in candidates:
            if thread.subject_key:
                self.by_subject[thread.subject_key].append(thread)
        # The people on each candidate's messages, read as bare columns: loading whole
        # messages with their bodies costs far more.
        by_id = {t.id: t for t in candidates}
        for ids in _chunks(sorted(by_id)):
            # DISTINCT: a newsletter's hundred issues share one set of people. Compared as
            # text, since PostgreSQL has no equality for its json type.
            participants = self.session.execute(
                select(
                    Message.thread_id,
                    cast(Message.from_, Text),
                    cast(Message.to, Text),
                    cast(Message.cc, Text),
                )
                .where(Message.thread_id.in_(ids))
                .distinct()
            )
            for thread_id, *addresses in participants:
                if thread_id is None:
                    continue
                from_, to, cc = (json.loads(a) if a else [] for a in addresses)
                self.people[id(by_id[thread_id])].append(people(from_, to, cc))

    def _load_gm_threads(self, gm_thrids: list[int]) -> None:
        for chunk in _chunks(sorted(set(gm_thrids))):
            for thread in self.session.scalars(
                select(Thread)
                .where(
                    Thread.account_id == self.account.id,
                    Thread.gm_thrid.in_(chunk),
                    Thread.deleted_at.is_(None),
                )
                .order_by(Thread.id)
                .options(lazyload(Thread.messages))
            ):
                if thread.gm_thrid is not None:
                    self.by_gm_thrid.setdefault(thread.gm_thrid, thread)

    # ------------------------------------------------------------------ placing

    def place(
        self, message: Placing, parsed: ParsedMessage, gm_thrid: int | None = None
    ) -> AnyThread:
        """Put `message` into its thread (found, or new in `created`) and bring the thread's
        aggregates up to date; with Gmail's `gm_thrid`, the thread of that id. Returns the
        thread."""
        thread: AnyThread | None
        if gm_thrid is not None:
            thread = self.by_gm_thrid.get(gm_thrid)
        else:
            thread = self._find(parsed)
        made = thread is None
        if thread is None:
            thread = NewThread(
                new_public_id(),
                self.account.id,
                parsed.subject,
                subject_key(parsed.subject),
                0,
                now(),
                gm_thrid,
            )
            self.created.append(thread)
            if gm_thrid is not None:
                self.by_gm_thrid[gm_thrid] = thread
            if thread.subject_key:
                self.by_subject[thread.subject_key].append(thread)
        elif isinstance(thread, Thread) and id(thread) not in self.changed:
            self.changed[id(thread)] = thread
            self.before[thread.id] = (thread.first_message_ts, thread.last_message_ts)
            thread.version = (thread.version or 0) + 1  # one bump per batch
        message.thread = thread
        self.added[id(thread)].append(message)
        if not add_to_aggregates(thread, message, empty=made):
            refresh_thread(thread, self.added[id(thread)])
        # What later messages of the batch find this one by.
        if parsed.message_id:
            self.by_msgid[parsed.message_id] = (parsed.date, thread)
        for ref in _references(parsed):
            self.by_reply.setdefault(ref, thread)
        self.people[id(thread)].append(people(parsed.from_, parsed.to, parsed.cc))
        return thread

    def _find(self, parsed: ParsedMessage) -> AnyThread | None:
        thread = self._tied_thread(parsed)
        return thread if thread is not None else self._by_subject(parsed)

    def _tied_thread(self, parsed: ParsedMessage) -> AnyThread | None:
        """The thread of the newest message we hold that `parsed` names, else of one that
        names `parsed`; None: only the subject can tell."""
        found = [self.by_msgid[r] for r in _references(parsed) if r in self.by_msgid]
        if found:
            return max(found, key=lambda pair: pair[0])[1]
        if parsed.message_id and parsed.message_id in self.by_reply:
            return self.by_reply[parsed.message_id]
        return None

    def _by_subject(self, parsed: ParsedMessage) -> AnyThread | None:
        key = subject_key(parsed.subject)
        mine = people(parsed.from_, parsed.to, parsed.cc)
        if not key or not mine:
            return None
        candidates = [
            t
            for t in self.by_subject.get(key, [])
            if t.deleted_at is None
            and (t.last_message_ts or 0) >= parsed.date - SUBJECT_WINDOW
            and (t.first_message_ts or 0) <= parsed.date + SUBJECT_WINDOW
        ]
        candidates.sort(key=lambda t: t.last_message_ts or 0, reverse=True)
        for thread in candidates:
            for theirs in self.people.get(id(thread), []):
                shared = mine & theirs
                if len(shared) >= 2 or (len(mine) == 1 and mine == theirs):
                    return thread
        return None


# ---------------------------------------------------------------------------- aggregates


def add_to_aggregates(thread: AnyThread, message: Placed, *, empty: bool = False) -> bool:
    """Bring a thread's aggregates up to date with one new live message without reading
    its other messages: what `refresh_thread` computes, given the aggregates were current
    (`empty`: a thread just made, with no messages before this one). False when that
    shortcut doesn't apply (a draft, or a thread with no mail but drafts, whose aggregates
    come from its drafts); then `refresh_thread` must run."""
    if message.is_draft or (
        not empty and thread.last_received_ts is None and thread.last_sent_ts is None
    ):
        return False
    # refresh_thread orders by (date, id) and the new message has no id yet: it sorts first
    # among messages of the same date.
    if thread.first_message_ts is None or message.date <= thread.first_message_ts:
        thread.subject = message.subject
        thread.first_message_ts = message.date
        key = subject_key(thread.subject)
        if thread.subject_key != key:
            thread.subject_key = key
    thread.last_message_ts = max(thread.last_message_ts or message.date, message.date)
    if message.is_sent:
        thread.last_sent_ts = max(thread.last_sent_ts or message.date, message.date)
    else:
        thread.last_received_ts = max(thread.last_received_ts or message.date, message.date)
    return True


def refresh_thread(thread: AnyThread, new: Sequence[Placed] = ()) -> None:
    """Recompute a thread's subject and timestamps from its live messages (and `new` ones
    not in the database yet)."""
    every: list[Placed] = [*thread.messages, *new]
    live = sorted((m for m in every if m.deleted_at is None), key=lambda m: (m.date, m.id or 0))
    mail = [m for m in live if not m.is_draft] or live
    if not mail:
        return
    thread.subject = mail[0].subject
    key = subject_key(thread.subject)
    if thread.subject_key != key:
        thread.subject_key = key
    thread.first_message_ts = mail[0].date
    thread.last_message_ts = mail[-1].date
    received = [m.date for m in mail if not m.is_sent and not m.is_draft]
    sent = [m.date for m in mail if m.is_sent and not m.is_draft]
    thread.last_received_ts = max(received) if received else None
    thread.last_sent_ts = max(sent) if sent else None
