"""Contacts ↔ vCards (3.0 and 4.0) of a CardDAV address book, with vobject (read as
vobject reads them, quicker: dav/vcard_read.py).

Reading takes the properties the API shows: N, NICKNAME, BDAY, ORG, TITLE, NOTE, EMAIL,
TEL, ADR, URL, IMPP, PHOTO (inline data, as the picture), and for groups (dav/groups.py)
CATEGORIES, KIND/MEMBER and Apple's X-ADDRESSBOOKSERVER-KIND/-MEMBER. Writing
starts from the server's vCard and replaces only those properties, so everything else a
phone put there (X- properties, UID, REV, related people...) survives an API update.
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass, field
from typing import Any

import vobject

from nylas_engine.dav.vcard_read import read_card

# The properties this module owns in a vCard; every other one is kept as the server has it.
OWNED: tuple[str, ...] = ("n", "fn", "nickname", "bday", "org", "title", "note", "email")
OWNED += ("tel", "adr", "url", "impp", "photo")
_IMAGE_TYPES = {"JPEG": "image/jpeg", "JPG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif"}
_IMAGE_TYPES["WEBP"] = "image/webp"
# The contact fields a vCard carries (in and out).
CONTACT_FIELDS: tuple[str, ...] = (
    "given_name",
    "middle_name",
    "surname",
    "suffix",
    "nickname",
    "birthday",
)
CONTACT_FIELDS += ("company_name", "job_title", "notes", "emails", "phone_numbers")
CONTACT_FIELDS += ("web_pages", "im_addresses", "physical_addresses")


@dataclass
class ParsedContact:
    uid: str
    fields: dict[str, Any]
    picture: tuple[bytes, str] | None  # the image and its content type
    categories: list[str] = field(default_factory=list)
    # A group card (vCard 4 KIND:group, or Apple's X-ADDRESSBOOKSERVER-KIND:group) names
    # its members by UID (MEMBER / X-ADDRESSBOOKSERVER-MEMBER: urn:uuid:...).
    is_group: bool = False
    members: list[str] = field(default_factory=list)
    name: str = ""


def parse_vcard(text: str) -> ParsedContact:
    card = read_card(text)
    fields: dict[str, Any] = {}
    n = _first(card, "n")
    if n is not None:
        name = n.value
        fields["given_name"] = _join(name.given) or None
        fields["middle_name"] = _join(name.additional) or None
        fields["surname"] = _join(name.family) or None
        fields["suffix"] = _join(name.suffix) or None
    elif (fn := _first(card, "fn")) is not None:
        fields["given_name"] = str(fn.value) or None
    fields["nickname"] = _text(card, "nickname")
    fields["job_title"] = _text(card, "title")
    fields["notes"] = _text(card, "note")
    org = _first(card, "org")
    fields["company_name"] = (_join(org.value[:1]) or None) if org is not None else None
    bday = _text(card, "bday")
    fields["birthday"] = _birthday(bday) if bday else None
    fields["emails"] = [
        {"type": _type(p), "email": str(p.value).strip()} for p in _all(card, "email")
    ]
    fields["phone_numbers"] = [
        {"type": _type(p), "number": str(p.value).strip()} for p in _all(card, "tel")
    ]
    fields["web_pages"] = [
        {"type": _type(p), "url": str(p.value).strip()} for p in _all(card, "url")
    ]
    fields["im_addresses"] = [
        {"type": _type(p), "im_address": str(p.value).strip()} for p in _all(card, "impp")
    ]
    fields["physical_addresses"] = [_address(p) for p in _all(card, "adr")]
    uid = _text(card, "uid") or ""
    kind = _text(card, "kind") or _text(card, "x-addressbookserver-kind") or ""
    members = _all(card, "member") + _all(card, "x-addressbookserver-member")
    categories = [str(c).strip() for p in _all(card, "categories") for c in _values(p.value)]
    return ParsedContact(
        uid=uid,
        fields=fields,
        picture=_photo(card),
        categories=[c for c in categories if c],
        is_group=kind.lower() == "group",
        members=[_member_uid(str(p.value)) for p in members],
        name=_text(card, "fn") or "",
    )


def with_member(raw: str, uid: str, member: bool) -> str:
    """A group card with the contact `uid` added to (or removed from) its members, in the
    property the card already uses (vCard 4 MEMBER, or Apple's X-ADDRESSBOOKSERVER-MEMBER)."""
    card = vobject.readOne(raw)
    apple = "kind" not in card.contents and "x-addressbookserver-kind" in card.contents
    name = "x-addressbookserver-member" if apple else "member"
    for prop in _all(card, "member") + _all(card, "x-addressbookserver-member"):
        if _member_uid(str(prop.value)) == uid:
            card.remove(prop)
    if member:
        card.add(name).value = "urn:uuid:" + uid
    text: str = card.serialize()
    return text


def _member_uid(value: str) -> str:
    value = value.strip()
    for prefix in ("urn:uuid:", "mailto:"):
        if value.lower().startswith(prefix):
            return value[len(prefix) :]
    return value


def _values(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else str(value).split(",")


def to_vcard(
    fields: dict[str, Any],
    picture: tuple[bytes, str] | None,
    raw: str | None,
    uid: str | None = None,
    categories: list[str] | None = None,
) -> str:
    """The vCard to PUT: the server's `raw` (or a new 3.0 card) with the API's values, and
    `categories` as its CATEGORIES where they differ (None: as the server has them)."""
    card = vobject.readOne(raw) if raw else vobject.vCard()
    version = _text(card, "version") or "3.0"
    if not raw:
        card.add("version").value = "3.0"
        card.add("uid").value = uid or str(uuid.uuid4())
    had = [str(c).strip() for p in _all(card, "categories") for c in _values(p.value)]
    if categories is not None and sorted(categories) != sorted(c for c in had if c):
        card.contents.pop("categories", None)
        if categories:
            card.add("categories").value = list(categories)
    for name in OWNED:
        while name in card.contents:
            del card.contents[name]
    given, middle = fields.get("given_name") or "", fields.get("middle_name") or ""
    surname, suffix = fields.get("surname") or "", fields.get("suffix") or ""
    card.add("n").value = vobject.vcard.Name(
        family=surname, given=given, additional=middle, suffix=suffix
    )
    card.add("fn").value = " ".join(x for x in (given, middle, surname) if x) or (
        (fields.get("emails") or [{}])[0].get("email") or "(no name)"
    )
    for key, prop in (("nickname", "nickname"), ("job_title", "title"), ("notes", "note")):
        if fields.get(key):
            card.add(prop).value = fields[key]
    if fields.get("company_name"):
        card.add("org").value = [fields["company_name"]]
    if fields.get("birthday"):
        card.add("bday").value = fields["birthday"]
    for key, prop, value_key in (
        ("emails", "email", "email"),
        ("phone_numbers", "tel", "number"),
        ("web_pages", "url", "url"),
        ("im_addresses", "impp", "im_address"),
    ):
        for item in fields.get(key) or []:
            line = card.add(prop)
            line.value = item.get(value_key) or ""
            if item.get("type"):
                line.type_param = item["type"].upper()
    for item in fields.get("physical_addresses") or []:
        line = card.add("adr")
        line.value = vobject.vcard.Address(
            street=item.get("street_address") or "",
            city=item.get("city") or "",
            region=item.get("state") or "",
            code=item.get("postal_code") or "",
            country=item.get("country") or "",
        )
        if item.get("type"):
            line.type_param = item["type"].upper()
    if picture is not None:
        data, content_type = picture
        subtype = content_type.rpartition("/")[2].upper()
        line = card.add("photo")
        if version.startswith("4"):
            line.value = f"data:{content_type};base64,{base64.b64encode(data).decode()}"
            line.params["VALUE"] = ["URI"]
        else:
            line.value = data
            line.encoding_param = "b"
            line.type_param = subtype
    text: str = card.serialize()
    return text


def _photo(card: Any) -> tuple[bytes, str] | None:
    photo = _first(card, "photo")
    if photo is None:
        return None
    value = photo.value
    if isinstance(value, str) and value.startswith("data:"):
        head, _, data = value.partition(",")
        content_type = head[5:].split(";")[0] or "application/octet-stream"
        try:
            return base64.b64decode(data), content_type
        except ValueError:
            return None
    if isinstance(value, bytes):
        kind = str(photo.params.get("TYPE", ["JPEG"])[0]).upper()
        return value, _IMAGE_TYPES.get(kind, "image/jpeg")
    return None  # a link to an image elsewhere: not fetched


def _address(prop: Any) -> dict[str, Any]:
    a = prop.value
    return {
        "type": _type(prop),
        "format": "structured",
        "street_address": _join(a.street) or None,
        "city": _join(a.city) or None,
        "state": _join(a.region) or None,
        "postal_code": _join(a.code) or None,
        "country": _join(a.country) or None,
    }


def _type(prop: Any) -> str | None:
    """The first TYPE that says what the value is (not PREF / INTERNET / VOICE)."""
    types = [str(t).lower() for t in prop.params.get("TYPE", [])]
    for value in types:
        for part in value.split(","):
            if part and part not in ("pref", "internet", "voice", "x400"):
                return part
    return None


def _birthday(value: str) -> str | None:
    digits = value.replace("-", "")
    if len(digits) >= 8 and digits[:8].isdigit():
        return f"{digits[:4]}-{digits[4:6]}-{digits[6:8]}"
    return None


def _first(card: Any, name: str) -> Any:
    found = card.contents.get(name)
    return found[0] if found else None


def _all(card: Any, name: str) -> list[Any]:
    return list(card.contents.get(name, []))


def _text(card: Any, name: str) -> str | None:
    prop = _first(card, name)
    if prop is None:
        return None
    value = prop.value
    if isinstance(value, list):
        value = ",".join(str(v) for v in value)
    return str(value).strip() or None


def _join(value: Any) -> str:
    if isinstance(value, list):
        return " ".join(str(v) for v in value if v)
    return str(value or "")
