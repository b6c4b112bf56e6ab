"""Contacts in hosted v2's shape with full CRUD (docs/protocol.md §13), and contact pictures.

Pictures: `PUT /contacts/{id}/picture` takes the image itself as the request body (PNG, JPEG,
GIF or WebP, recognised from its bytes; at most 5 MiB and at most the upload limit,
`serve --max-upload-mb`, else 413) and answers with the contact,
whose `picture_url` then points at `GET /contacts/{id}/picture`, which returns the bytes with
their content type. `DELETE /contacts/{id}/picture` removes it. The image is kept in the blob
store under its SHA-256.

    curl -u TOKEN: -X PUT --data-binary @face.jpg http://127.0.0.1:5555/contacts/ID/picture
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from nylas_engine.api.deps import (
    AccountScope,
    account_scope,
    engine_context,
    json_object,
    write_scope,
)
from nylas_engine.api.errors import APIError, bad_request, not_found
from nylas_engine.api.metadata_query import refuse_metadata_filters
from nylas_engine.api.openapi import doc, paged
from nylas_engine.api.params import check_id
from nylas_engine.api.query import ContactQuery
from nylas_engine.api.routing import SessionRoute
from nylas_engine.api.schemas import calendar as shape
from nylas_engine.api.views.contacts import SOURCES, contact_fields, contact_json
from nylas_engine.calendar.when import InvalidInput
from nylas_engine.dav.groups import account_groups, chosen_groups
from nylas_engine.store import contacts as store
from nylas_engine.store import paging
from nylas_engine.store.models import Contact

# Their objects carry no metadata: a metadata_* filter is refused, not ignored.
router = APIRouter(route_class=SessionRoute, dependencies=[Depends(refuse_metadata_filters)])
WRITE = doc(409, reply=shape.Contact, body=shape.ContactInput)

MAX_PICTURE_BYTES = 5 * 1024 * 1024
_IMAGE_MAGIC = [
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
]


def _contact(scope: AccountScope, contact_id: str) -> Contact:
    contact = store.find_contact(scope.session, scope.account, check_id(contact_id))
    if contact is None:
        raise not_found(f"Couldn't find contact {contact_id}")
    return contact


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _fields(body: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    try:
        return contact_fields(body, creating=creating)
    except InvalidInput as exc:
        raise bad_request(str(exc)) from exc


def _with_groups(
    scope: AccountScope, body: dict[str, Any], fields: dict[str, Any], source: str
) -> None:
    """`groups` given: written to the address book as it models them (dav/groups.py). As
    for the other read-only fields SDKs send back, a `groups` that isn't a list of objects
    (or an empty one on an inbox contact) is ignored."""
    raw = body.get("groups")
    if not isinstance(raw, list) or not all(isinstance(g, dict) for g in raw):
        return
    if source != "address_book" and raw:
        raise bad_request("Only address book contacts have groups.")
    try:
        if source == "address_book":
            fields["groups"] = chosen_groups(scope.session, scope.account.id, raw)
    except InvalidInput as exc:
        raise bad_request(str(exc)) from exc


def _filters(params: ContactQuery) -> store.ContactFilter:
    source = params.source
    if source is not None and source not in SOURCES:
        raise bad_request("'source' must be 'address_book' or 'inbox'.")
    return store.ContactFilter(
        # `filter` is the old open-source engine's name for an exact email match.
        email=params.email or params.filter,
        phone_number=params.phone_number,
        street_address=params.street_address,
        postal_code=params.postal_code,
        state=params.state,
        country=params.country,
        source=source,
        group=params.group,
    )


@router.get("/contacts/groups", **doc(reply=list[dict[str, Any]]))
def list_groups(scope: AccountScope = Depends(account_scope)) -> Any:
    """The groups of the account's CardDAV address books (dav/groups.py); none otherwise."""
    found = account_groups(scope.session, scope.account.id)
    return [{**g, "account_id": scope.account.public_id} for g in found]


@router.get("/contacts", **doc(reply=paged(shape.Contact)))
@router.get("/contacts/", include_in_schema=False)
def list_contacts(
    request: Request,
    params: Annotated[ContactQuery, Query()],
    scope: AccountScope = Depends(account_scope),
) -> Any:
    view, f, page = params.view, _filters(params), params.page()
    rows: list[Contact]
    if f.needs_scan:
        if view == "count":
            return {"count": len(store.scan(scope.session, scope.account, f))}
        rows = store.scan_page(scope.session, scope.account, f, page.limit, page.offset)
    else:
        stmt = store.contacts(scope.account, f)
        if view == "count":
            return {"count": paging.count(scope.session, stmt)}
        rows = paging.page(scope.session, stmt, page.limit, page.offset)
    if view == "ids":
        return [c.public_id for c in rows]
    base = _base_url(request)
    return [contact_json(c, scope.account, base) for c in rows]


@router.get("/contacts/{contact_id}", **doc(reply=shape.Contact))
def get_contact(
    contact_id: str, request: Request, scope: AccountScope = Depends(account_scope)
) -> Any:
    return contact_json(_contact(scope, contact_id), scope.account, _base_url(request))


@router.post("/contacts", **WRITE)
@router.post("/contacts/", include_in_schema=False)
def create_contact(
    request: Request,
    body: dict[str, Any] = Depends(json_object),
    scope: AccountScope = Depends(write_scope),
) -> Any:
    fields = _fields(body, creating=True)
    _with_groups(scope, body, fields, fields.get("source") or "address_book")
    contact = store.create_contact(scope.session, scope.account, fields)
    return contact_json(contact, scope.account, _base_url(request))


@router.put("/contacts/{contact_id}", **WRITE)
@router.patch("/contacts/{contact_id}", **WRITE)
def update_contact(
    contact_id: str,
    request: Request,
    body: dict[str, Any] = Depends(json_object),
    scope: AccountScope = Depends(write_scope),
) -> Any:
    """Only the fields present in the body change (PUT and PATCH alike)."""
    contact = _contact(scope, contact_id)
    fields = _fields(body, creating=False)
    _with_groups(scope, body, fields, contact.source)
    store.update_contact(contact, fields)
    return contact_json(contact, scope.account, _base_url(request))


@router.delete("/contacts/{contact_id}", **doc(409))
def delete_contact(contact_id: str, scope: AccountScope = Depends(write_scope)) -> Any:
    store.delete_contact(_contact(scope, contact_id))
    return None


# ---------------------------------------------------------------------------------- pictures


@router.get("/contacts/{contact_id}/picture", **doc(media="image/*"))
def get_picture(contact_id: str, scope: AccountScope = Depends(account_scope)) -> Any:
    contact = _contact(scope, contact_id)
    sha = contact.picture_sha256
    if sha is None or not scope.ctx.blobs.exists(sha):
        raise not_found(f"Contact {contact_id} has no picture.")
    return Response(
        scope.ctx.blobs.read(sha),  # at most MAX_PICTURE_BYTES
        media_type=contact.picture_content_type or "application/octet-stream",
        headers={"X-Content-Type-Options": "nosniff"},
    )


async def picture_body(request: Request) -> tuple[bytes, str]:
    """The request body as an image (at most MAX_PICTURE_BYTES, and no more than the
    engine's upload limit) and its detected type."""
    limit = min(MAX_PICTURE_BYTES, engine_context(request).settings.max_upload_bytes)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise APIError(413, f"The picture is larger than {limit} bytes.", "api_error")
        chunks.append(chunk)
    data = b"".join(chunks)
    content_type = image_type(data)
    if content_type is None:
        raise bad_request("The picture must be a PNG, JPEG, GIF or WebP image (sent as the body).")
    return data, content_type


def image_type(data: bytes) -> str | None:
    """The content type of a PNG, JPEG, GIF or WebP image, from its first bytes."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return next((kind for magic, kind in _IMAGE_MAGIC if data.startswith(magic)), None)


# The image's bytes: PNG, JPEG, GIF or WebP, told apart by their first bytes (any Content-Type).
IMAGE = {"type": "string", "format": "binary"}
IMAGE_TYPES = ("application/octet-stream",)


@router.put(
    "/contacts/{contact_id}/picture",
    **doc(409, reply=shape.Contact, body=IMAGE, body_types=IMAGE_TYPES),
)
def put_picture(
    contact_id: str,
    request: Request,
    picture: tuple[bytes, str] = Depends(picture_body),
    scope: AccountScope = Depends(write_scope),
) -> Any:
    contact = _contact(scope, contact_id)
    store.set_picture(scope.ctx.blobs, contact, *picture)
    return contact_json(contact, scope.account, _base_url(request))


@router.delete("/contacts/{contact_id}/picture", **doc(409, reply=shape.Contact))
def delete_picture(
    contact_id: str, request: Request, scope: AccountScope = Depends(write_scope)
) -> Any:
    contact = _contact(scope, contact_id)
    store.clear_picture(contact)
    return contact_json(contact, scope.account, _base_url(request))
