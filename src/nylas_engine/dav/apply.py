"""Writing what the server holds into the store: one calendar object or vCard at a time.

Every function here runs in a session marked `SYNC_MARK` (nothing is pushed back) and is
idempotent: applying the same object twice (a sync cut short and run again) finds the
event or contact by the object's href, or an API-made event by its UID, and updates it.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import null
from sqlalchemy.orm import Session

from nylas_engine.dav import groups
from nylas_engine.dav.contacts import parse_vcard
from nylas_engine.dav.events import parse_object
from nylas_engine.store import contacts as contact_store
from nylas_engine.store.blobs import BlobStore
from nylas_engine.store.calendar import update_event
from nylas_engine.store.dav import (
    DavCollection,
    DavObject,
    forget_object,
    live_overrides,
    live_series,
    object_by_href,
)
from nylas_engine.store.models import Contact, Event, now

log = logging.getLogger("nylas_engine.dav")
# New objects and the event or contact each became, linked once a flush gave them ids.
Links = list[tuple[DavObject, Event | Contact]]


def link(session: Session, links: Links) -> None:
    """One flush for a batch of new events or contacts, then point their objects at them."""
    session.flush()
    for obj, row in links:
        if isinstance(row, Event):
            obj.event_id = row.id
        else:
            obj.contact_id = row.id
    links.clear()


def _object(
    session: Session, coll: DavCollection, href: str, known: dict[str, DavObject] | None
) -> DavObject:
    """The object at `href` (from `known`, the collection's objects loaded once per batch)."""
    obj = known.get(href) if known is not None else object_by_href(session, coll.id, href)
    if obj is None:
        obj = DavObject(account_id=coll.account_id, collection_id=coll.id, href=href)
        session.add(obj)
        if known is not None:
            known[href] = obj
    return obj


def apply_event_object(
    session: Session,
    coll: DavCollection,
    href: str,
    etag: str | None,
    raw: str,
    known: dict[str, DavObject] | None = None,
    links: Links | None = None,
) -> None:
    """Store one calendar object. An event made through the API is found by its href: the
    push records the href before its PUT (dav/push.py)."""
    obj = _object(session, coll, href, known)
    obj.etag, obj.raw = etag, raw
    try:
        parsed = parse_object(raw)
    except Exception as exc:  # icalendar raises many kinds on broken input
        log.info("unreadable calendar object %s: %s", href, type(exc).__name__)
        parsed = None
    if parsed is None or coll.calendar_id is None:
        return
    obj.uid = parsed.uid
    head = parsed.master or (parsed.overrides[0] if parsed.overrides else None)
    if head is None:
        return
    master = session.get(Event, obj.event_id) if obj.event_id else None
    had_master = master is not None
    if master is None:
        master = Event(
            account_id=coll.account_id,
            calendar_id=coll.calendar_id,
            ical_uid=parsed.uid,
            sequence=head.invite.sequence,
        )
        session.add(master)
    update_event(master, head.fields())
    master.read_only = coll.read_only
    master.deleted_at = None
    recurrence = head.invite.recurrence if parsed.master is not None else None
    if recurrence is not None:
        master.recurrence = recurrence
    elif master.recurrence is not None:
        master.recurrence = null()
    overrides = parsed.overrides if parsed.master is not None else []
    if links is not None and not had_master and not overrides:
        links.append((obj, master))  # linked after the batch's single flush
        return
    session.flush()
    obj.event_id = master.id
    existing = (
        {e.original_start_time: e for e in live_overrides(session, master.id)} if had_master else {}
    )
    for changed in overrides:
        rid = changed.invite.recurrence_id
        override = existing.pop(rid, None)
        if override is None:
            override = Event(
                account_id=coll.account_id,
                calendar_id=coll.calendar_id,
                ical_uid=parsed.uid,
                master_event_id=master.id,
                original_start_time=rid,
            )
            session.add(override)
        fields = changed.fields()
        if not changed.invite.has_start and override.when:
            del fields["when"]
        update_event(override, fields)
        override.read_only = coll.read_only
    for gone in existing.values():
        if gone.original_start_time in parsed.cancelled:  # an EXDATE: cancelled, as the API
            gone.status = "cancelled"  # cancels one (store/occurrences.py)
        else:  # the occurrence is back to what the series says
            gone.deleted_at = now()


def apply_contact(
    session: Session,
    blobs: BlobStore,
    coll: DavCollection,
    href: str,
    etag: str | None,
    raw: str,
    known: dict[str, DavObject] | None = None,
    links: Links | None = None,
) -> None:
    obj = _object(session, coll, href, known)
    before = groups.group_card(obj.raw) if obj.contact_id is None else None
    obj.etag, obj.raw = etag, raw
    try:
        parsed = parse_vcard(raw)
    except Exception as exc:  # vobject raises many kinds on broken input
        log.info("unreadable vCard %s: %s", href, type(exc).__name__)
        return
    obj.uid = parsed.uid or None
    contact = session.get(Contact, obj.contact_id) if obj.contact_id else None
    if parsed.is_group or before is not None:
        if contact is not None:  # stored as a contact before groups were read
            contact.deleted_at = now()
            obj.contact_id = None
        if links:  # the batch's new contacts get their ids, so that they can be regrouped
            link(session, links)
        session.flush()
        named = set(parsed.members) | set(before.members if before else [])
        groups.regroup(session, coll, named)
        if parsed.is_group:
            return
    if contact is None:
        contact = Contact(account_id=coll.account_id, source="address_book")
        session.add(contact)
    _set_fields(contact, parsed.fields)
    found = groups.groups_of(session, coll, parsed.uid, parsed.categories)
    if (contact.groups or []) != found:
        contact.groups = found
    contact.deleted_at = None
    if parsed.picture is not None:
        data, content_type = parsed.picture
        contact_store.set_picture(blobs, contact, data, content_type)
    elif contact.picture_sha256 is not None:
        contact_store.clear_picture(contact)
    if links is not None and obj.contact_id is None:
        links.append((obj, contact))
        return
    session.flush()
    obj.contact_id = contact.id


def _set_fields(contact: Contact, fields: dict[str, Any]) -> None:
    for name, value in fields.items():
        if getattr(contact, name) != value:
            setattr(contact, name, value)


def apply_deleted(session: Session, coll: DavCollection, href: str) -> None:
    obj = object_by_href(session, coll.id, href)
    if obj is None:
        return
    stamp = now()
    if obj.event_id is not None:
        for event in live_series(session, obj.event_id):
            event.deleted_at = stamp
    if obj.contact_id is not None:
        contact = session.get(Contact, obj.contact_id)
        if contact is not None and contact.deleted_at is None:
            contact.deleted_at = stamp
    card = groups.group_card(obj.raw) if obj.contact_id is None else None
    forget_object(session, obj)
    session.flush()
    if card is not None:  # its members leave the group
        groups.regroup(session, coll, set(card.members))
