"""The data half of every model: attribute definitions, wire names, reading and writing JSON.

Attributes are declared as class annotations (typed); what the server sends is kept whole, so
a field this SDK does not know yet is still readable. Reading an attribute that is neither
declared nor sent raises `AttributeError`, so a misspelt name fails loudly instead of reading
None. Writing an unknown attribute raises too.
"""

from __future__ import annotations

import builtins
from typing import Any, ClassVar, TypeVar

T = TypeVar("T", bound="ModelData")

# Python names that cannot be attributes, as the wire spells them.
_WIRE_NAMES = {"from_": "from"}


class ModelData:
    _object_type: ClassVar[str] = ""
    _path: ClassVar[str] = ""
    # Attributes never sent back on save (the server owns them).
    _server_owned: ClassVar[frozenset[str]] = frozenset(
        {"id", "object", "account_id", "job_status_id"}
    )
    # Attributes that exist only in this process (never sent).
    _local_only: ClassVar[frozenset[str]] = frozenset()
    # Other names accepted for an attribute (the seed README's `sync_status`).
    _aliases: ClassVar[dict[str, str]] = {}
    # Wire keys stored under another attribute name (`messages` of an expanded thread).
    _renamed: ClassVar[dict[str, str]] = {}
    _fields: ClassVar[frozenset[str]] = frozenset()

    id: str | None
    object: str | None
    account_id: str | None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        names: set[str] = set()
        for klass in cls.__mro__:
            annotations = klass.__dict__.get("__annotations__", {})
            for name, kind in annotations.items():
                if not str(kind).startswith("ClassVar") and not name.startswith("_"):
                    names.add(name)
        cls._fields = frozenset(names)

    def __init__(self, **attrs: Any) -> None:
        for name, value in attrs.items():
            setattr(self, name, value)

    # ------------------------------------------------------------------------ attribute rules

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup failed: a declared field the server did not send.
        cls = type(self)
        if name in cls._aliases:
            return getattr(self, cls._aliases[name])
        if name in cls._fields:
            return None
        raise AttributeError(f"{cls.__name__!r} object has no attribute {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        cls = type(self)
        if name in cls._aliases:
            name = cls._aliases[name]
        known = name.startswith("_") or name in cls._fields or name in self.__dict__
        if not known and not isinstance(getattr(cls, name, None), property):
            raise AttributeError(f"{cls.__name__!r} object has no attribute {name!r}")
        object.__setattr__(self, name, value)

    # ---------------------------------------------------------------------------- wire format

    @classmethod
    def from_wire(cls: type[T], data: dict[str, Any]) -> T:
        obj = cls.__new__(cls)
        obj._load(data)
        return obj

    def _load(self, data: dict[str, Any]) -> None:
        """Take the server's representation (after a read or a write)."""
        _renamed = type(self)._renamed
        for key, value in data.items():
            name = _renamed.get(key) or ("from_" if key == "from" else key)
            self.__dict__[name] = value

    def as_json(self) -> dict[str, Any]:
        """The attributes to send on save, in wire names."""
        cls = type(self)
        skip = cls._server_owned | cls._local_only | set(cls._renamed.values())
        body: dict[str, Any] = {}
        for name, value in self.__dict__.items():
            if name.startswith("_") or name in skip:
                continue
            body[_WIRE_NAMES.get(name, name)] = value
        return body

    def to_dict(self) -> dict[str, Any]:
        """Everything known about the object, in wire names (for printing or storing)."""
        return {
            _WIRE_NAMES.get(name, name): value
            for name, value in self.__dict__.items()
            if not name.startswith("_") and name not in type(self)._local_only
        }

    def __repr__(self) -> str:
        label = self.__dict__.get("id")
        return f"<{type(self).__name__} {label}>" if label else f"<{type(self).__name__} (new)>"

    def __eq__(self, other: builtins.object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, ModelData)
        mine, theirs = self.__dict__.get("id"), other.__dict__.get("id")
        if mine is None or theirs is None:
            return self is other
        return bool(mine == theirs)

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.__dict__.get("id") or id(self)))
