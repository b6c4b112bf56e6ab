"""`GET /resources` (hosted v2 room resources): what the operator configured with
`nylas-engine resources add`, the same list for every account; `[]` when none."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from nylas_engine.api.deps import AccountScope, account_scope
from nylas_engine.api.openapi import doc
from nylas_engine.api.query import PageQuery
from nylas_engine.api.routing import SessionRoute
from nylas_engine.api.schemas import calendar as shape
from nylas_engine.store.models import RoomResource
from nylas_engine.store.resources import all_resources

router = APIRouter(route_class=SessionRoute)


def resource_json(resource: RoomResource) -> dict[str, Any]:
    """Hosted v2's shape: capacity and floor number as strings (or null), as providers gave them."""
    return {
        "object": "room_resource",
        "email": resource.email,
        "name": resource.name,
        "capacity": None if resource.capacity is None else str(resource.capacity),
        "building": resource.building,
        "floor_name": resource.floor_name,
        "floor_number": None if resource.floor_number is None else str(resource.floor_number),
    }


@router.get("/resources", **doc(reply=list[shape.Resource]))
@router.get("/resources/", include_in_schema=False)
def list_resources(
    params: Annotated[PageQuery, Query()], scope: AccountScope = Depends(account_scope)
) -> Any:
    page = params.page()
    rows = all_resources(scope.session)[page.offset : page.offset + page.limit]
    return [resource_json(r) for r in rows]
