"""Metadata (hosted v2): an object's own string keys and values, and the filters that find
objects by them.

* Hosted v2's limits: at most 50 pairs, keys of 1 to 40 characters, values of up to 500
  characters, both strings, no nesting. An object that breaks one is refused whole (400);
  nothing is truncated.
* A write replaces the whole mapping (hosted PUT semantics): a key left out is removed, an
  empty string is kept as a value. `null` or no `metadata` key leaves it as it is.
* Filters (`metadata_key`, `metadata_value`, `metadata_pair=key:value`, `metadata_search`)
  may each be repeated; an object matches when it satisfies every one given. A pair splits at
  its first colon, so a key can't hold one in a filter. `metadata_search` matches a key or a
  value containing the text, case-insensitively.

Nothing here knows HTTP or SQL: `InvalidMetadata` becomes a 400 in `api/errors.py`, and the
store turns a `MetadataFilter` into conditions (store/metadata.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MAX_PAIRS = 50
MAX_KEY = 40
MAX_VALUE = 500
MAX_FILTER_TERMS = 20  # per filter name: each is one SQL condition
FILTER_NAMES = ("metadata_key", "metadata_value", "metadata_pair", "metadata_search")


class InvalidMetadata(ValueError):
    """Metadata or a metadata filter the engine refuses; the message says why."""


def parse_metadata(value: Any) -> dict[str, str]:
    """The mapping a client sent, checked against hosted v2's limits."""
    if not isinstance(value, dict):
        raise InvalidMetadata("'metadata' must be an object of string keys and string values.")
    if len(value) > MAX_PAIRS:
        raise InvalidMetadata(f"'metadata' can hold at most {MAX_PAIRS} key-value pairs.")
    for key, item in value.items():
        _check_key(key, "A metadata key")
        if not isinstance(item, str):
            raise InvalidMetadata(f"The metadata value of {key!r} must be a string.")
        if len(item) > MAX_VALUE:
            raise InvalidMetadata(
                f"The metadata value of {key!r} is longer than {MAX_VALUE} characters."
            )
    return dict(value)


def optional_metadata(body: dict[str, Any]) -> dict[str, str] | None:
    """A request body's checked `metadata`, or None when it has none (no change)."""
    value = body.get("metadata")
    return None if value is None else parse_metadata(value)


def _check_key(key: Any, what: str) -> None:
    if not isinstance(key, str) or not key:
        raise InvalidMetadata(f"{what} must be a non-empty string.")
    if len(key) > MAX_KEY:
        raise InvalidMetadata(f"{what} is longer than {MAX_KEY} characters: {key[:MAX_KEY]}...")


@dataclass(frozen=True)
class MetadataFilter:
    """The metadata filters of one list request; every term must match."""

    keys: tuple[str, ...] = ()
    values: tuple[str, ...] = ()
    pairs: tuple[tuple[str, str], ...] = ()
    searches: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.keys or self.values or self.pairs or self.searches)


def parse_filter(get_all: Callable[[str], list[str]]) -> MetadataFilter:
    """The filters from a query string (`get_all(name)` lists a parameter's values)."""
    for name in FILTER_NAMES:
        if len(get_all(name)) > MAX_FILTER_TERMS:
            raise InvalidMetadata(f"{name} can be given at most {MAX_FILTER_TERMS} times.")
    keys = tuple(get_all("metadata_key"))
    for key in keys:
        _check_key(key, "metadata_key")
    values = tuple(get_all("metadata_value"))
    for value in values:
        _check_value(value, "metadata_value")
    pairs = []
    for raw in get_all("metadata_pair"):
        key, colon, value = raw.partition(":")
        if not colon:
            raise InvalidMetadata(f"metadata_pair must be written key:value, not {raw!r}.")
        _check_key(key, "The key of metadata_pair")
        _check_value(value, "The value of metadata_pair")
        pairs.append((key, value))
    searches = tuple(get_all("metadata_search"))
    for text in searches:
        if not text:
            raise InvalidMetadata("metadata_search must not be empty.")
        _check_value(text, "metadata_search")
    return MetadataFilter(keys, values, tuple(pairs), searches)


def _check_value(value: str, what: str) -> None:
    if len(value) > MAX_VALUE:
        raise InvalidMetadata(f"{what} is longer than {MAX_VALUE} characters.")


def fits(key: Any, value: Any) -> bool:
    """Whether a stored pair is within the limits (rows written before they were checked
    may not be; such a pair is returned but can't be filtered on)."""
    return (
        isinstance(key, str)
        and isinstance(value, str)
        and 0 < len(key) <= MAX_KEY
        and len(value) <= MAX_VALUE
    )
