"""Pushing API writes to the server: plan from the store, talk to the server, record.

Each queued object (store/dav_writeback.py) is planned in a short session (what to send
where, with which ETag), sent with no session open, and its outcome recorded with the
queue rows it covered. A new object's href is recorded before its PUT (with no ETag), so a
crash between the PUT and the record finds it again by href rather than adding a second.
Writes are conditional: `If-Match` with the ETag last seen, `If-None-Match: *` for a new
object. A 412 means the server changed the object first: the server wins, its version is
fetched and the API shows that.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote

from sqlalchemy.orm import Session

from nylas_engine.dav.client import DAV, DavClient, DavConflict, DavError, q
from nylas_engine.dav.contacts import CONTACT_FIELDS, to_vcard, with_member
from nylas_engine.dav.events import to_ical
from nylas_engine.dav.groups import card_groups
from nylas_engine.dav.sync import DavSync
from nylas_engine.store import dav as store
from nylas_engine.store import dav_writeback as queue
from nylas_engine.store.calendar import EMAILED_CALENDAR
from nylas_engine.store.models import Account, Calendar, Contact, Event

log = logging.getLogger("nylas_engine.dav")


@dataclass
class Plan:
    """One write: `method` PUT or DELETE (or MKCALENDAR / PROPPATCH for calendars)."""

    method: str
    url: str
    coll_id: int
    coll_kind: str
    coll_href: str
    etag: str | None = None
    data: str | None = None
    content_type: str = ""
    name: str = ""
    description: str | None = None
    calendar_id: int | None = None
    then: list[Plan] = field(default_factory=list)  # sent after this one succeeded


def push(sync: DavSync, client: DavClient) -> int:
    """Push every queued write of the account; how many objects were pushed."""
    with sync.ctx.db.session() as session:
        latest: dict[tuple[str, int], int] = {}
        for row in queue.pending(session, sync.account_id):
            latest[(row.object_type, row.object_id)] = row.id
    pushed = 0
    for (kind, object_id), up_to in latest.items():
        with sync.session() as session:
            plan = _plan(session, sync, kind, object_id)
            if plan is None:
                queue.done(session, kind, object_id, up_to)
                continue

        def finish(kind: str = kind, object_id: int = object_id, up_to: int = up_to) -> None:
            with sync.session() as session:
                queue.done(session, kind, object_id, up_to)

        if _deliver(sync, client, plan, finish):
            pushed += 1
            for then in plan.then:  # the group cards the contact joined or left
                _deliver(sync, client, then, lambda: None)
        finish()
    return pushed


def _deliver(sync: DavSync, client: DavClient, plan: Plan, finish: Callable[[], None]) -> bool:
    """Send one write and record its outcome; False if the server's version stays (it
    changed first, or it refused the write: both final, `finish` called before the
    server's version is fetched)."""
    try:
        etag = _send(client, plan)
    except DavConflict:
        log.info("account %s: %s changed on the server first; it wins", sync.account_id, plan.url)
        sync.fetch_one(client, plan.coll_id, plan.coll_kind, plan.coll_href, plan.url)
        return False
    except DavError as exc:
        if exc.status in (0, 401, 503):
            raise
        log.warning(
            "account %s: the server refused %s %s: %s",
            sync.account_id,
            plan.method,
            plan.url,
            exc,
        )
        finish()  # a refusal is final: the server's version stays
        sync.fetch_one(client, plan.coll_id, plan.coll_kind, plan.coll_href, plan.url)
        return False
    if plan.method == "PUT" and etag is None:
        rows = client.propfind(plan.url, [q(DAV, "getetag")])
        etag = rows[0].text(DAV, "getetag") if rows else None
    with sync.session() as session:
        _record(session, sync, plan, etag)
    return True


def _send(client: DavClient, plan: Plan) -> str | None:
    if plan.method == "PUT":
        assert plan.data is not None
        return client.put(plan.url, plan.data, plan.content_type, plan.etag)
    if plan.method == "DELETE":
        client.delete(plan.url, plan.etag)
    elif plan.method == "MKCALENDAR":
        client.mkcalendar(plan.url, plan.name)
        if plan.description:
            client.set_display_name(plan.url, plan.name, plan.description)
    elif plan.method == "PROPPATCH":
        client.set_display_name(plan.url, plan.name, plan.description)
    return None


def _record(session: Session, sync: DavSync, plan: Plan, etag: str | None) -> None:
    if plan.method == "PUT":
        obj = store.object_by_href(session, plan.coll_id, plan.url)
        if obj is not None:
            obj.etag, obj.raw = etag, plan.data
    elif plan.method == "DELETE" and plan.coll_kind != "collection":
        obj = store.object_by_href(session, plan.coll_id, plan.url)
        if obj is not None:
            store.forget_object(session, obj)
    elif plan.method == "DELETE":
        coll = session.get(store.DavCollection, plan.coll_id)
        if coll is not None:
            session.delete(coll)
    elif plan.method == "MKCALENDAR":
        session.add(
            store.DavCollection(
                account_id=sync.account_id,
                kind="calendar",
                href=plan.url,
                display_name=plan.name,
                calendar_id=plan.calendar_id,
            )
        )
    elif plan.method == "PROPPATCH":
        coll = session.get(store.DavCollection, plan.coll_id)
        if coll is not None:
            coll.display_name = plan.name


# ------------------------------------------------------------------------------ planning


def _plan(session: Session, sync: DavSync, kind: str, object_id: int) -> Plan | None:
    if kind == "event":
        return _plan_event(session, sync, object_id)
    if kind == "contact":
        return _plan_contact(session, sync, object_id)
    return _plan_calendar(session, sync, object_id)


def _plan_event(session: Session, sync: DavSync, event_id: int) -> Plan | None:
    """A series and its changed occurrences are one calendar object: a change to an
    occurrence (an override row) is planned as a write of its series' object."""
    event = session.get(Event, event_id)
    if event is not None and event.master_event_id is not None:
        event = session.get(Event, event.master_event_id)
    if event is None or event.message_id is not None:
        return None
    coll = store.collection_of_calendar(session, event.calendar_id)
    if coll is None or coll.read_only:
        return None
    obj = store.object_of_event(session, event.id)
    gone = event.deleted_at is not None or event.status == "cancelled"
    if gone:
        if obj is None or obj.etag is None:
            return None
        return Plan("DELETE", obj.href, coll.id, "calendar", coll.href, etag=obj.etag)
    account = session.get(Account, event.account_id)
    assert account is not None
    if obj is None:
        name = quote((event.ical_uid or event.public_id).replace("@", "-"), safe="") + ".ics"
        obj = store.DavObject(
            account_id=event.account_id,
            collection_id=coll.id,
            href=coll.href.rstrip("/") + "/" + name,
            uid=event.ical_uid,
            event_id=event.id,
        )
        session.add(obj)
        session.flush()
    overrides = store.live_overrides(session, event.id) if event.recurrence else []
    organizer = (account.name or "", account.email_address)
    data = to_ical(event, organizer, obj.raw, overrides)
    return Plan("PUT", obj.href, coll.id, "calendar", coll.href, obj.etag, data, "text/calendar")


def _plan_contact(session: Session, sync: DavSync, contact_id: int) -> Plan | None:
    contact = session.get(Contact, contact_id)
    if contact is None or contact.source != "address_book":
        return None
    obj = store.object_of_contact(session, contact.id)
    if obj is not None:
        coll = session.get(store.DavCollection, obj.collection_id)
    else:
        books = store.collections(session, sync.account_id, "addressbook")
        coll = next((c for c in books if not c.read_only), None)
    if coll is None or coll.read_only:
        return None
    if contact.deleted_at is not None:
        if obj is None or obj.etag is None:
            return None
        return Plan("DELETE", obj.href, coll.id, "addressbook", coll.href, etag=obj.etag)
    if obj is None:
        uid = str(uuid.uuid4())
        obj = store.DavObject(
            account_id=contact.account_id,
            collection_id=coll.id,
            href=coll.href.rstrip("/") + "/" + uid + ".vcf",
            uid=uid,
            contact_id=contact.id,
        )
        session.add(obj)
        session.flush()
    fields = {name: getattr(contact, name) for name in CONTACT_FIELDS}
    picture = None
    if contact.picture_sha256:
        picture = (
            sync.ctx.blobs.read(contact.picture_sha256),
            contact.picture_content_type or "image/jpeg",
        )
    cards = card_groups(session, coll)
    chosen = {g["id"]: g for g in contact.groups or []}
    categories = [g["name"] for g in chosen.values() if g["id"] not in cards]
    uid = obj.uid or ""
    data = to_vcard(fields, picture, obj.raw, uid, categories)
    plan = Plan("PUT", obj.href, coll.id, "addressbook", coll.href, obj.etag, data, "text/vcard")
    for group_id, (card_obj, card) in cards.items():
        if uid and card_obj.raw and (uid in card.members) != (group_id in chosen):
            card_data = with_member(card_obj.raw, uid, group_id in chosen)
            plan.then.append(
                Plan(
                    "PUT",
                    card_obj.href,
                    coll.id,
                    "addressbook",
                    coll.href,
                    card_obj.etag,
                    card_data,
                    "text/vcard",
                )  # fmt: skip
            )
    return plan


def _plan_calendar(session: Session, sync: DavSync, calendar_id: int) -> Plan | None:
    calendar = session.get(Calendar, calendar_id)
    if calendar is None:
        return None
    coll = store.collection_of_calendar(session, calendar.id)
    if calendar.deleted_at is not None:
        if coll is None:
            return None
        return Plan("DELETE", coll.href, coll.id, "collection", coll.href)
    if coll is None:
        home = sync.homes.get("calendar")
        local = calendar.read_only or calendar.is_primary or calendar.name == EMAILED_CALENDAR
        if home is None or local:
            return None
        url = home.rstrip("/") + "/" + str(uuid.uuid4()) + "/"
        return Plan(
            "MKCALENDAR", url, 0, "collection", url, name=calendar.name,
            description=calendar.description, calendar_id=calendar.id,
        )  # fmt: skip
    if coll.read_only or calendar.name == coll.display_name:
        return None
    return Plan(
        "PROPPATCH", coll.href, coll.id, "collection", coll.href, name=calendar.name,
        description=calendar.description,
    )  # fmt: skip
