"""Shapes shared by every resource: the error body, counts, id lists, deletion replies."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from nylas_engine.metadata import MAX_KEY, MAX_PAIRS, MAX_VALUE

ID_PATTERN = "^[0-9a-zA-Z]{1,40}$"  # ids.is_valid_public_id


# Request text may hold no NUL and no lone surrogate (api/deps.py `json_object`).
# (Stated for the document only: pydantic's own regex engine refuses surrogates.)
GOOD_TEXT = r"^[^\x00\ud800-\udfff]*$"
Text = Annotated[str, Field(json_schema_extra={"pattern": GOOD_TEXT})]


class Open(BaseModel):
    """A JSON object that may carry more fields than the ones named."""

    model_config = ConfigDict(extra="allow")


JSON_REF = "#/components/schemas/Json"
ANY_JSON_MARK = "x-any-json"
# Any JSON value whose text holds no NUL and no lone surrogate: what a request may carry in
# fields the engine does not know (they are accepted, and checked for that text only).
ANY_JSON = {
    "anyOf": [
        {"type": "null"},
        {"type": "boolean"},
        {"type": "number"},
        {"type": "string", "pattern": GOOD_TEXT},
        {"type": "array", "items": {"$ref": JSON_REF}},
        {
            "type": "object",
            "propertyNames": {"pattern": GOOD_TEXT},
            "additionalProperties": {"$ref": JSON_REF},
        },
    ]
}


class Input(BaseModel):
    """A request body: the fields named, and any others (ignored) as long as their text
    holds no NUL or lone surrogate (api/deps.py `json_object` refuses those)."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "propertyNames": {"pattern": GOOD_TEXT},
            # pydantic would try to resolve a `$ref` here: api/openapi.py puts it in
            "additionalProperties": {ANY_JSON_MARK: True},
        },
    )


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
    name: Text | None = None
    email: Text


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
