"""Room resources (hosted v2 `/resources`): configured by the operator, read by every account."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nylas_engine.store.models import RoomResource


def all_resources(session: Session) -> list[RoomResource]:
    return list(session.scalars(select(RoomResource).order_by(RoomResource.id)))


def find(session: Session, email: str) -> RoomResource | None:
    found: RoomResource | None = session.scalar(
        select(RoomResource).where(func.lower(RoomResource.email) == email.lower())
    )
    return found


def put(session: Session, email: str, fields: dict[str, Any]) -> RoomResource:
    """Add the resource, or change the fields given of the one with that email."""
    resource = find(session, email)
    if resource is None:
        resource = RoomResource(email=email.lower(), name="")
        session.add(resource)
    for name, value in fields.items():
        setattr(resource, name, value)
    session.flush()
    return resource


def remove(session: Session, email: str) -> bool:
    resource = find(session, email)
    if resource is None:
        return False
    session.delete(resource)
    return True
