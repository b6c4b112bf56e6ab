"""Contact groups as the address book models them (read only).

Two models are in use: a group card (vCard 4 `KIND:group` with `MEMBER:urn:uuid:<uid>`
lines, or Apple's vCard 3 `X-ADDRESSBOOKSERVER-KIND:group` with `X-ADDRESSBOOKSERVER-MEMBER`),
which is an object of the address book but not a contact; and `CATEGORIES` on each contact
(Nextcloud, Google). Both become the API's contact groups, `{id, object: "contact_group",
name, path}`, kept in each contact's `groups` (so `GET /contacts?group=` filters on them).
A group's id is derived from the account and the group's UID (or the category's name), so
it is the same on every sync. A group card changing membership updates the contacts it
adds or drops; a contact arriving after its group card finds it among the collection's
objects.

Writing (`chosen_groups`, then dav/push.py): a contact's `groups` set through the API are
written as the address book models each one: a group card's group by adding or removing the
contact's UID among the card's members (MEMBER, or Apple's X-ADDRESSBOOKSERVER-MEMBER), any
other (a category, or a new name) as the contact's CATEGORIES.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import Any

from sqlalchemy.orm import Session

from nylas_engine.calendar.when import InvalidInput
from nylas_engine.dav.contacts import ParsedContact, parse_vcard
from nylas_engine.store import dav as store
from nylas_engine.store.dav import DavCollection, DavObject
from nylas_engine.store.models import Contact


def group_json(account_id: int, key: str, name: str) -> dict[str, Any]:
    digest = hashlib.sha256(f"{account_id}\0{key}".encode()).hexdigest()[:25]
    return {"id": digest, "object": "contact_group", "name": name, "path": name}


@lru_cache(maxsize=512)
def _parsed(raw: str) -> ParsedContact | None:
    try:
        return parse_vcard(raw)
    except Exception:  # vobject raises many kinds on broken input
        return None


def group_card(raw: str | None) -> ParsedContact | None:
    """The group a stored object is, if it is a group card."""
    parsed = _parsed(raw) if raw and "group" in raw.lower() else None
    return parsed if parsed is not None and parsed.is_group else None


def _cards(session: Session, coll: DavCollection) -> list[ParsedContact]:
    """The collection's group cards, read once per session (a batch) until one changes."""
    key = ("dav_group_cards", coll.id)
    cards: list[ParsedContact] | None = session.info.get(key)
    if cards is None:
        raws = store.unlinked_raws(session, coll.id)
        cards = [c for c in (group_card(raw) for raw in raws) if c is not None]
        session.info[key] = cards
    return cards


def changed(session: Session, coll: DavCollection) -> None:
    """A group card of the collection was stored or removed in this session."""
    session.info.pop(("dav_group_cards", coll.id), None)


def groups_of(
    session: Session, coll: DavCollection, uid: str, categories: list[str]
) -> list[dict[str, Any]]:
    """The groups of the collection's contact with this UID and CATEGORIES."""
    account_id = coll.account_id
    found = [group_json(account_id, "category:" + c.casefold(), c) for c in categories]
    for card in _cards(session, coll) if uid else []:
        if uid in card.members:
            found.append(group_json(account_id, "card:" + card.uid, card.name or card.uid))
    unique = {g["id"]: g for g in found}
    return sorted(unique.values(), key=lambda g: (g["name"], g["id"]))


def regroup(session: Session, coll: DavCollection, uids: set[str]) -> None:
    """Recompute the groups of the collection's contacts with these UIDs (a group card
    named them before or after its change)."""
    changed(session, coll)
    if not uids:
        return
    for obj in store.objects(session, coll.id).values():
        if obj.contact_id is None or obj.uid not in uids or obj.raw is None:
            continue
        parsed = _parsed(obj.raw)
        contact = session.get(Contact, obj.contact_id)
        if parsed is None or contact is None:
            continue
        groups = groups_of(session, coll, obj.uid, parsed.categories)
        if (contact.groups or []) != groups:
            contact.groups = groups


def account_groups(session: Session, account_id: int) -> list[dict[str, Any]]:
    """Every group of the account's address books: group cards, and categories in use."""
    found: dict[str, dict[str, Any]] = {}
    for raw in store.unlinked_raws(session, account_id=account_id):
        card = group_card(raw)
        if card is not None:
            group = group_json(account_id, "card:" + card.uid, card.name or card.uid)
            found[group["id"]] = group
    for groups in store.contact_groups(session, account_id):
        for group in groups:
            found.setdefault(group["id"], group)
    return sorted(found.values(), key=lambda g: (g["name"], g["id"]))


def chosen_groups(session: Session, account_id: int, raw: Any) -> list[dict[str, Any]]:
    """The groups a client gave a contact: each an `{"id"}` of one of the account's groups
    or a `{"name"}` (an existing group of that name, else a new category); `InvalidInput`."""
    if not isinstance(raw, list) or not all(isinstance(g, dict) for g in raw):
        raise InvalidInput("'groups' must be a list of objects with an 'id' or a 'name'.")
    known = {g["id"]: g for g in account_groups(session, account_id)}
    by_name = {g["name"].casefold(): g for g in known.values()}
    found: dict[str, dict[str, Any]] = {}
    for item in raw:
        group_id, name = item.get("id"), item.get("name")
        if group_id is not None:
            if not isinstance(group_id, str) or group_id not in known:
                raise InvalidInput(f"Couldn't find contact group {group_id!r}.")
            group = known[group_id]
        elif isinstance(name, str) and name.strip() and len(name) <= 255 and "," not in name:
            name = name.strip()
            group = by_name.get(name.casefold()) or group_json(
                account_id, "category:" + name.casefold(), name
            )
        else:
            raise InvalidInput("Each group needs an 'id' or a 'name' (no commas).")
        found[group["id"]] = group
    return sorted(found.values(), key=lambda g: (g["name"], g["id"]))


CardGroups = dict[str, tuple[DavObject, ParsedContact]]


def card_groups(session: Session, coll: DavCollection) -> CardGroups:
    """The collection's group cards by the id of the group each is."""
    found: CardGroups = {}
    for obj in store.objects(session, coll.id).values():
        card = group_card(obj.raw) if obj.contact_id is None else None
        if card is not None:
            found[group_json(coll.account_id, "card:" + card.uid, "")["id"]] = (obj, card)
    return found
