"""Contacts in hosted v2's shape (docs/protocol.md §13), out and in.

`contact_fields(body)` checks what a client writes: plain strings, a `YYYY-MM-DD` birthday,
and the typed lists (`emails`, `phone_numbers`, ...) as lists of objects. Keys the engine owns
(`id`, `picture_url`, `groups`, ...) are ignored, since SDKs send whole objects back.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from nylas_engine.blank import is_blank
from nylas_engine.calendar.fields import is_email
from nylas_engine.calendar.when import InvalidInput
from nylas_engine.store.models import Account, Contact

STRINGS = {
    "given_name": 255,
    "middle_name": 255,
    "surname": 255,
    "suffix": 64,
    "nickname": 255,
    "company_name": 255,
    "job_title": 255,
    "manager_name": 255,
    "office_location": 255,
    "notes": 65536,
}
# list field -> its value key (required in every item); addresses have no single value.
LISTS: dict[str, str | None] = {
    "emails": "email",
    "im_addresses": "im_address",
    "phone_numbers": "number",
    "web_pages": "url",
    "physical_addresses": None,
}
ADDRESS_KEYS = ("street_address", "city", "postal_code", "state", "country")
SOURCES = ("address_book", "inbox")
MAX_ITEMS = 100
MAX_ITEM_TEXT = 1024


def contact_json(contact: Contact, account: Account, base_url: str) -> dict[str, Any]:
    picture = f"{base_url}/contacts/{contact.public_id}/picture" if contact.picture_sha256 else None
    data: dict[str, Any] = {
        "id": contact.public_id,
        "object": "contact",
        "account_id": account.public_id,
    }
    data.update({name: getattr(contact, name) for name in STRINGS})
    data["birthday"] = contact.birthday
    data["picture_url"] = picture
    data["source"] = contact.source
    for name in LISTS:
        data[name] = list(getattr(contact, name) or [])
    data["groups"] = [{**g, "account_id": account.public_id} for g in contact.groups or []]
    return data


def contact_fields(body: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    """Column values for the writable fields present in `body`."""
    fields: dict[str, Any] = {}
    for name, limit in STRINGS.items():
        if name in body:
            fields[name] = _string(name, body[name], limit)
    if "birthday" in body:
        fields["birthday"] = _birthday(body["birthday"])
    for name, value_key in LISTS.items():
        if name in body:
            fields[name] = _items(name, body[name], value_key)
    if creating and body.get("source") is not None:
        if body["source"] not in SOURCES:
            raise InvalidInput("'source' must be 'address_book' or 'inbox'.")
        fields["source"] = body["source"]
    return fields


def _string(name: str, value: Any, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"'{name}' must be a string.")
    if len(value) > limit:
        raise InvalidInput(f"'{name}' is longer than {limit} characters.")
    return value


def _birthday(value: Any) -> str | None:
    if value is None or value == "":
        return None
    try:
        if not isinstance(value, str) or len(value) != 10:
            raise ValueError(value)
        return date.fromisoformat(value).isoformat()
    except ValueError as exc:
        raise InvalidInput("'birthday' must be a date string YYYY-MM-DD.") from exc


def _items(name: str, value: Any, value_key: str | None) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise InvalidInput(f"'{name}' must be a list of objects.")
    if len(value) > MAX_ITEMS:
        raise InvalidInput(f"'{name}' can hold at most {MAX_ITEMS} entries.")
    result = []
    for item in value:
        entry: dict[str, Any] = {"type": _string(f"{name}.type", item.get("type"), 255)}
        if value_key is None:
            entry["format"] = "structured"
            for key in ADDRESS_KEYS:
                entry[key] = _string(f"{name}.{key}", item.get(key), MAX_ITEM_TEXT)
        else:
            text = item.get(value_key)
            if not isinstance(text, str) or is_blank(text):
                raise InvalidInput(f"Every entry of '{name}' needs a string '{value_key}'.")
            entry[value_key] = _string(f"{name}.{value_key}", text.strip(), MAX_ITEM_TEXT)
            if value_key == "email" and not is_email(text.strip()):
                raise InvalidInput(f"Invalid email address in '{name}': {text!r}")
        result.append(entry)
    return result
