"""Shapes shared by every resource: the error body, counts, id lists, deletion replies."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from nylas_engine.blank import NOT_BLANK
from nylas_engine.metadata import MAX_KEY, MAX_PAIRS, MAX_VALUE

__all__ = ["NOT_BLANK"]  # re-exported: the schemas import it from here

ID_PATTERN = "^[0-9a-zA-Z]{1,40}$"  # ids.is_valid_public_id


# Request text may hold no NUL and no lone surrogate (api/deps.py `json_object`).
# (Stated for the document only: pydantic's own regex engine refuses surrogates.)
GOOD_TEXT = r"^[^\x00\ud800-\udfff]*$"
Text = Annotated[str, Field(json_schema_extra={"pattern": GOOD_TEXT})]


class Open(BaseModel):
    """A JSON object that may carry more fields than the ones named."""

    model_config = ConfigDict(extra="allow")


def _nulls(schema: dict[str, Any], model: type[BaseModel]) -> None:
    """An optional field may be left out; it may be null only where named in `nullable`."""
    allowed = getattr(model, "nullable", ())
    for name, prop in schema.get("properties", {}).items():
        options = prop.get("anyOf")
        if name in allowed or not options or {"type": "null"} not in options:
            continue
        rest = [option for option in options if option != {"type": "null"}]
        del prop["anyOf"]
        prop.pop("default", None)
        if len(rest) == 1:
            prop.update(rest[0])
        else:
            prop["anyOf"] = rest


class Input(BaseModel):
    """A request body: the fields named, and any others, which are ignored. Any text in it,
    unknown fields included, may hold no NUL and no lone surrogate (api/deps.py
    `json_object`). That rule is not in the schema for unknown fields: a recursive "any
    JSON without that text" schema is more than client generators can read.

    Optional fields may be left out; null is a value only for the ones in `nullable`."""

    model_config = ConfigDict(extra="allow", json_schema_extra=_nulls)
    nullable: ClassVar[tuple[str, ...]] = ()


class Error(Open):
    """The error body of docs/protocol.md §2."""

    message: str
    type: str
    server_error: str | None = None


class Count(Open):
    """`view=count`."""

    count: int


class Deleted(Open):
    """What a DELETE answers where it answers a body."""

    job_status_id: str | None = None


class NameEmail(Input):
    nullable: ClassVar[tuple[str, ...]] = ("name",)
    name: Text | None = None
    email: Text  # checked when the message is sent, not when a draft is saved


# Metadata as the engine checks it (nylas_engine/metadata.py): string keys and values.
Metadata = Annotated[
    dict[str, str],
    WithJsonSchema(
        {
            "type": "object",
            "maxProperties": MAX_PAIRS,
            "propertyNames": {"minLength": 1, "maxLength": MAX_KEY, "pattern": GOOD_TEXT},
            "additionalProperties": {
                "type": "string",
                "maxLength": MAX_VALUE,
                "pattern": GOOD_TEXT,
            },
        }
    ),
]
