"""The query parameters routes declare, as models FastAPI reads and documents.

A route takes `params: Annotated[SomeQuery, Query()]`; FastAPI lists each field (under its
alias, the name clients send) in `/openapi.json` with the schema written here, and fills it
from the query string. Each field's type carries its parser (`Parsed`): the lenient rules
of api/params.py (docs/protocol.md §1.6, §3), which raise the engine's own 400 naming the
parameter, never a 422. Unknown parameters are ignored (§18). FastAPI checks a route's own
parameters after its dependencies, so a missing token is still a 401 before a bad value's 400.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from nylas_engine.api.errors import bad_request
from nylas_engine.api.params import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    MAX_OFFSET,
    MAX_STRING,
    MAX_TIMEOUT,
    Page,
    parse_bool,
    parse_count,
    parse_emails,
    parse_text,
    parse_timeout,
    parse_timestamp,
    parse_view,
)
from nylas_engine.blank import WHITE_SPACE
from nylas_engine.ids import check_id
from nylas_engine.metadata import (
    MAX_FILTER_TERMS,
    MAX_KEY,
    MAX_VALUE,
    InvalidMetadata,
    MetadataFilter,
    parse_filter,
)
from nylas_engine.store.delta import FILTERABLE_TYPES
from nylas_engine.store.messages import MailFilters


@dataclass(frozen=True)
class Parsed:
    """How a field's text becomes its value: `parse(name, text)`, a 400 naming it if bad."""

    parse: Callable[[str, Any], Any]


NO_NUL = "^[^\\x00]*$"  # api/query_guard.py refuses a NUL anywhere in the query
ID_PATTERN = "^[0-9a-zA-Z]{1,40}$"  # ids.is_valid_public_id
_TEXT = {"type": "string", "maxLength": MAX_STRING, "pattern": NO_NUL}
# No NUL, and not blank (nylas_engine/blank.py): a search's words.
_SOME_TEXT = f"^[^\\x00]*[^{WHITE_SPACE}\\x00][^\\x00]*$"
VIEWS = ("count", "ids", "expanded")
PAIR = {"type": "string", "pattern": f"^[^:\\x00]{{1,{MAX_KEY}}}:[^\\x00]{{0,{MAX_VALUE}}}$"}

Text = Annotated[str | None, Parsed(parse_text), WithJsonSchema(_TEXT)]
Id = Annotated[
    str | None,
    Parsed(lambda name, value: check_id(parse_text(name, value))),
    WithJsonSchema({"type": "string", "pattern": ID_PATTERN}),
]
Bool = Annotated[bool | None, Parsed(parse_bool), WithJsonSchema({"type": "boolean"})]
Timestamp = Annotated[
    int | None,
    Parsed(lambda name, value: None if value == "" else parse_timestamp(name, value)),
    # Seconds, fractions dropped (an ISO 8601 date/time is read too: clients of the old
    # engine send both; the document names the numbers, which every client can send).
    WithJsonSchema({"type": "number", "minimum": -62135596800, "maximum": 253402300799}),
]
# A list type, so FastAPI reads every value given: the last counts, as for any parameter.
Emails = Annotated[
    list[str] | None,
    Parsed(lambda name, value: parse_emails(name, _last(value))),
    WithJsonSchema({"type": "string", "format": "email", "maxLength": 200}),
]
Limit = Annotated[
    int,
    Parsed(parse_count),
    WithJsonSchema({"type": "integer", "minimum": 0, "maximum": MAX_LIMIT, "default": 100}),
]
Offset = Annotated[
    int,
    Parsed(parse_count),
    WithJsonSchema({"type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0}),
]


def _views(*allowed: str) -> Parsed:
    """A `view` of one of `allowed` ("" or none: the plain objects)."""
    return Parsed(lambda name, value: parse_view(value, allowed))


def _enum(*allowed: str) -> WithJsonSchema:
    return WithJsonSchema({"type": "string", "enum": ["", *allowed]})


View = Annotated[str | None, _views(*VIEWS), _enum(*VIEWS)]
CountOrIds = Annotated[str | None, _views("count", "ids"), _enum("count", "ids")]
VIEW_DOC = "`count` answers {count}, `ids` a list of ids, `expanded` adds more to each object."


def _terms(item: dict[str, Any]) -> WithJsonSchema:
    return WithJsonSchema({"type": "array", "items": item, "maxItems": MAX_FILTER_TERMS})


class QueryModel(BaseModel):
    """Declared query parameters: each parsed by its type's `Parsed` rule."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    missing: ClassVar[str] = "Missing required parameter: {name}"
    # Other spellings SDKs send for a parameter, folded into it before it is parsed. They
    # are described, not listed: client generators would give `in_` the name of `in`.
    spellings: ClassVar[dict[str, tuple[str, ...]]] = {}
    agree: ClassVar[bool] = False  # True: spellings given together must agree (else 400)

    @model_validator(mode="before")
    @classmethod
    def _prepare(cls, data: Any) -> Any:
        """Fold the spellings in; a missing required parameter is the engine's 400."""
        data = dict(data)
        for name, others in cls.spellings.items():
            given = {n: _last(data.pop(n)) for n in (name, *others) if n in data}
            if cls.agree and len(set(given.values())) > 1:
                raise bad_request(f"Give one of {' or '.join(given)}: they disagree")
            if given:
                data[name] = next(iter(given.values()))
        for name, field in cls.model_fields.items():
            if field.is_required() and not data.get(field.alias or name):
                raise bad_request(cls.missing.format(name=field.alias or name))
        return data

    @field_validator("*", mode="before")
    @classmethod
    def _parse(cls, value: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields[info.field_name or ""]
        parser = next((m for m in field.metadata if isinstance(m, Parsed)), None)
        if parser is None or value is None:
            return value
        return parser.parse(field.alias or info.field_name or "", value)


def _last(value: Any) -> Any:
    """A parameter given twice counts once, as its last value (Starlette's rule)."""
    return value[-1] if isinstance(value, list) else value


class ViewQuery(QueryModel):
    """One object's `view` (`expanded` adds more to it; count and ids change nothing)."""

    view: View = Field(None, description=VIEW_DOC)

    @property
    def expanded(self) -> bool:
        return self.view == "expanded"


class PageQuery(QueryModel):
    """A page only (a list with no views)."""

    limit: Limit = Field(DEFAULT_LIMIT, description="Page size (default 100, at most 1000).")
    offset: Offset = Field(0, description="Objects to skip.")

    def page(self) -> Page:
        return Page(self.limit, self.offset)


class ListQuery(PageQuery, ViewQuery):
    """A list's page and view (docs/protocol.md §3)."""


class CountOrIdsListQuery(ListQuery):
    """A list whose objects have no expanded form."""

    view: CountOrIds = Field(None, description="`count` answers {count}, `ids` a list of ids.")


class MetadataQuery(QueryModel):
    """The hosted `metadata_*` filters (nylas_engine/metadata.py), each repeatable."""

    metadata_key: Annotated[list[str], _terms({**_TEXT, "minLength": 1, "maxLength": MAX_KEY})] = (
        Field(default_factory=list)
    )
    metadata_value: Annotated[list[str], _terms({**_TEXT, "maxLength": MAX_VALUE})] = Field(
        default_factory=list
    )
    metadata_pair: Annotated[list[str], _terms(PAIR)] = Field(
        default_factory=list, description="key:value"
    )
    metadata_search: Annotated[
        list[str], _terms({**_TEXT, "minLength": 1, "maxLength": MAX_VALUE})
    ] = Field(default_factory=list)

    def metadata(self) -> MetadataFilter:
        try:
            return parse_filter(lambda name: list(getattr(self, name)))
        except InvalidMetadata as exc:
            raise bad_request(str(exc)) from exc


_IN = (
    "A folder or label: its id, name or display name. Also spelled `in_`, `folder_id` or "
    "`label_id`."
)


class MailQuery(ListQuery, MetadataQuery):
    """GET /threads, /messages and /drafts (docs/protocol.md §6, §7, §18 items 3-4).

    `folder_id` and `label_id` (sent by the SDK's `Folder.threads`/`Label.threads`) are
    aliases of `in`, and `from_`/`in_` are accepted too; a metadata filter matches a
    message's (or draft's) metadata, and a thread when one of its messages does."""

    spellings: ClassVar[dict[str, tuple[str, ...]]] = {"in": ("in_",), "from": ("from_",)}

    subject: Text = None
    any_email: Emails = None
    to: Text = None
    from_: Text = Field(None, alias="from", description="Also spelled `from_`.")
    cc: Text = None
    bcc: Text = None
    in_: Text = Field(None, alias="in", description=_IN)
    folder_id: Text = Field(None, description="The same as `in` (the SDKs' `Folder.threads`).")
    label_id: Text = Field(None, description="The same as `in` (the SDKs' `Label.threads`).")
    thread_id: Id = None
    filename: Text = None
    unread: Bool = None
    starred: Bool = None
    started_before: Timestamp = None
    started_after: Timestamp = None
    last_message_before: Timestamp = None
    last_message_after: Timestamp = None
    received_before: Timestamp = None
    received_after: Timestamp = None

    def filters(self) -> MailFilters:
        return MailFilters(
            subject=self.subject,
            any_email=self.any_email,
            to=self.to,
            from_=self.from_,
            cc=self.cc,
            bcc=self.bcc,
            thread_id=self.thread_id,
            started_before=self.started_before,
            started_after=self.started_after,
            last_message_before=self.last_message_before,
            last_message_after=self.last_message_after,
            received_before=self.received_before,
            received_after=self.received_after,
            filename=self.filename,
            in_=_first(self.in_, self.folder_id, self.label_id),
            unread=self.unread,
            starred=self.starred,
            metadata=self.metadata(),
        )


def _first(*values: str | None) -> str | None:
    return next((v for v in values if v is not None), None)


class VersionQuery(QueryModel):
    """DELETE /drafts/{id}: the version, when the body does not hold it (the store checks it)."""

    version: Annotated[str | None, WithJsonSchema({"type": "integer", "minimum": 0})] = None


# ----------------------------------------------------------------- the other lists and objects


class ExpandedQuery(QueryModel):
    """GET /account: `view=expanded` only."""

    view: Annotated[str | None, _views("expanded"), _enum("expanded")] = None


class OpenAccountsQuery(ListQuery):
    email_address: Text = None


class CategoryQuery(PageQuery):
    """Folders and labels: `view` is count or ids; any other value gives the plain list, as
    the old engine did."""

    view: Annotated[str | None, WithJsonSchema({"type": "string", "pattern": NO_NUL})] = None


class AppListQuery(CountOrIdsListQuery, MetadataQuery):
    """Lists whose objects carry metadata an app sets (calendars, an app's accounts)."""


class StreamSearchQuery(QueryModel):
    """The streaming searches: every match, a batch per line (no paging)."""

    missing: ClassVar[str] = "GET HTTP method must include query url parameter"

    q: Annotated[str, Parsed(parse_text), WithJsonSchema({**_TEXT, "pattern": _SOME_TEXT})]


class SearchQuery(StreamSearchQuery, PageQuery):
    """GET /messages/search: a page of matches."""


class ThreadSearchQuery(SearchQuery):
    view: View = Field(None, description=VIEW_DOC)  # later SDK 5 releases send it here


class FileQuery(ListQuery):
    filename: Text = None
    message_id: Id = None
    content_type: Text = None


class ContactQuery(CountOrIdsListQuery):
    email: Text = None
    filter: Text = Field(None, description="The same as `email` (the old engine's name).")
    phone_number: Text = None
    street_address: Text = None
    postal_code: Text = None
    state: Text = None
    country: Text = None
    group: Text = None
    source: Annotated[
        str | None,
        Parsed(parse_text),
        WithJsonSchema({"type": "string", "enum": ["address_book", "inbox"]}),
    ] = None


class NotifyQuery(QueryModel):
    notify_participants: Bool = None


class EventQuery(ListQuery, MetadataQuery):
    """GET /events. The old engine did not check `view` here: an unknown value gives the
    plain list."""

    view: Annotated[str | None, WithJsonSchema({"type": "string", "pattern": NO_NUL})] = None
    event_id: Id = None
    calendar_id: Id = None
    title: Text = None
    description: Text = None
    location: Text = None
    busy: Bool = None
    starts_before: Timestamp = None
    starts_after: Timestamp = None
    ends_before: Timestamp = None
    ends_after: Timestamp = None
    show_cancelled: Bool = None
    expand_recurring: Bool = None


def _type_list(name: str, value: str) -> frozenset[str] | None:
    names = frozenset(item.strip() for item in value.split(",") if item.strip())
    for type_ in sorted(names):
        if type_ not in FILTERABLE_TYPES:
            raise bad_request(f"Invalid object type {type_}")
    return names or None


_TYPE_NAMES = "(" + "|".join(sorted(FILTERABLE_TYPES)) + ")"
TypeList = Annotated[
    frozenset[str] | None,
    Parsed(_type_list),
    WithJsonSchema({"type": "string", "pattern": f"^{_TYPE_NAMES}(,{_TYPE_NAMES})*$"}),
]


class DeltaQuery(QueryModel):
    """GET /delta (docs/protocol.md §9). `limit` is the page size; there is no offset.

    SDK 5 sends `excluded_types` (docs/protocol.md §18.11), the Node SDK 6 `includeTypes`;
    spellings of one parameter given together must agree."""

    spellings: ClassVar[dict[str, tuple[str, ...]]] = {
        "include_types": ("includeTypes",),
        "exclude_types": ("excluded_types", "excludeTypes"),
    }
    agree: ClassVar[bool] = True

    cursor: Annotated[
        str, WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 255, "pattern": NO_NUL})
    ]
    include_types: TypeList = Field(None, description="Also spelled `includeTypes`.")
    exclude_types: TypeList = Field(
        None, description="Also spelled `excluded_types` or `excludeTypes`."
    )
    exclude_folders: Bool = False
    exclude_account: Bool = True
    exclude_metadata: Bool = True
    limit: Limit = Field(DEFAULT_LIMIT, description="Deltas in a page (default 100).")
    view: View = Field(None, description=VIEW_DOC)


class WaitQuery(DeltaQuery):
    """GET /delta/longpoll and /delta/streaming: a delta page, and how long to wait."""

    timeout: Annotated[
        float | None,
        Parsed(lambda name, value: parse_timeout(value)),
        WithJsonSchema({"type": "number", "minimum": 0, "maximum": MAX_TIMEOUT}),
    ] = Field(
        None,
        description="Seconds to wait for a change (longpoll 120, streaming 1800 by default).",
    )
