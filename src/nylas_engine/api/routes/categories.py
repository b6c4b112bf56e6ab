"""Folders and labels (docs/protocol.md §11). Each account has one kind: asking a folder account
for labels (or the reverse) is a 404 that says so."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from nylas_engine.api.deps import AccountScope, account_scope, json_object, write_scope
from nylas_engine.api.errors import bad_request, not_found
from nylas_engine.api.metadata_query import refuse_metadata_filters
from nylas_engine.api.openapi import doc, paged
from nylas_engine.api.params import check_id
from nylas_engine.api.query import CategoryQuery
from nylas_engine.api.routing import SessionRoute
from nylas_engine.api.schemas import mail as shape
from nylas_engine.api.views.mail import category_json
from nylas_engine.store import categories, paging
from nylas_engine.store.categories import kind_of
from nylas_engine.store.models import Category

# Their objects carry no metadata: a metadata_* filter is refused, not ignored.
router = APIRouter(route_class=SessionRoute, dependencies=[Depends(refuse_metadata_filters)])
LIST = doc(reply=paged(shape.Category))
WRITE = doc(409, reply=shape.Category, body=shape.CategoryInput)
CREATE = WRITE

WRONG_KIND = {
    "label": "Non-GMail accounts don't support labels",
    "folder": "GMail accounts don't support folders",
}


def _check_kind(scope: AccountScope, kind: str) -> None:
    if kind_of(scope.account) != kind:
        raise not_found(WRONG_KIND[kind])


def _list(params: CategoryQuery, scope: AccountScope, kind: str) -> Any:
    _check_kind(scope, kind)
    stmt = categories.live_categories(scope.account, kind)
    view, page = params.view, params.page()  # only count and ids mean something here
    if view == "count":
        return {"count": paging.count(scope.session, stmt)}
    rows = paging.page(scope.session, stmt, page.limit, page.offset)
    if view == "ids":
        return [row.public_id for row in rows]
    return [category_json(row, scope.account) for row in rows]


def _get(scope: AccountScope, kind: str, public_id: str) -> Category:
    _check_kind(scope, kind)
    category = categories.find(scope.session, scope.account, kind, check_id(public_id))
    if category is None:
        raise not_found("Object not found")
    return category


def _create(scope: AccountScope, kind: str, body: dict[str, Any]) -> Any:
    _check_kind(scope, kind)
    category = categories.create(scope.session, scope.account, kind, body)
    return category_json(category, scope.account)


def _rename(scope: AccountScope, kind: str, public_id: str, body: dict[str, Any]) -> Any:
    _check_kind(scope, kind)
    category = categories.find(scope.session, scope.account, kind, check_id(public_id))
    if category is None:  # the old engine answered 400 here, not 404
        raise bad_request(f"Couldn't find {kind} {public_id}")
    categories.rename(scope.session, scope.account, category, body)
    return category_json(category, scope.account)


def _delete(scope: AccountScope, kind: str, public_id: str) -> None:
    categories.delete(scope.session, _get(scope, kind, public_id))


@router.get("/folders", **LIST)
@router.get("/folders/", include_in_schema=False)
def list_folders(
    params: Annotated[CategoryQuery, Query()], scope: AccountScope = Depends(account_scope)
) -> Any:
    return _list(params, scope, "folder")


@router.get("/labels", **LIST)
@router.get("/labels/", include_in_schema=False)
def list_labels(
    params: Annotated[CategoryQuery, Query()], scope: AccountScope = Depends(account_scope)
) -> Any:
    return _list(params, scope, "label")


@router.get("/folders/{folder_id}", **doc(reply=shape.Category))
def get_folder(folder_id: str, scope: AccountScope = Depends(account_scope)) -> Any:
    return category_json(_get(scope, "folder", folder_id), scope.account)


@router.get("/labels/{label_id}", **doc(reply=shape.Category))
def get_label(label_id: str, scope: AccountScope = Depends(account_scope)) -> Any:
    return category_json(_get(scope, "label", label_id), scope.account)


@router.post("/folders", **CREATE)
@router.post("/folders/", include_in_schema=False)
def create_folder(
    body: dict[str, Any] = Depends(json_object), scope: AccountScope = Depends(write_scope)
) -> Any:
    return _create(scope, "folder", body)


@router.post("/labels", **CREATE)
@router.post("/labels/", include_in_schema=False)
def create_label(
    body: dict[str, Any] = Depends(json_object), scope: AccountScope = Depends(write_scope)
) -> Any:
    return _create(scope, "label", body)


@router.put("/folders/{folder_id}", **WRITE)
@router.patch("/folders/{folder_id}", **WRITE)
def rename_folder(
    folder_id: str,
    body: dict[str, Any] = Depends(json_object),
    scope: AccountScope = Depends(write_scope),
) -> Any:
    return _rename(scope, "folder", folder_id, body)


@router.put("/labels/{label_id}", **WRITE)
@router.patch("/labels/{label_id}", **WRITE)
def rename_label(
    label_id: str,
    body: dict[str, Any] = Depends(json_object),
    scope: AccountScope = Depends(write_scope),
) -> Any:
    return _rename(scope, "label", label_id, body)


@router.delete("/folders/{folder_id}", **doc(409))
def delete_folder(folder_id: str, scope: AccountScope = Depends(write_scope)) -> Any:
    _delete(scope, "folder", folder_id)
    return None


@router.delete("/labels/{label_id}", **doc(409))
def delete_label(label_id: str, scope: AccountScope = Depends(write_scope)) -> Any:
    _delete(scope, "label", label_id)
    return None
