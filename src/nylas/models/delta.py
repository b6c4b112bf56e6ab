"""Delta objects (docs/protocol.md §15): what changed, with the object's current state."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Delta:
    object: str
    event: str
    id: str
    cursor: str
    attributes: dict[str, Any] | None = None
    _client: Any = field(default=None, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict[str, Any], client: Any = None) -> Delta:
        return cls(
            object=data.get("object", ""),
            event=data.get("event", ""),
            id=data.get("id", ""),
            cursor=data.get("cursor", ""),
            attributes=data.get("attributes"),
            _client=client,
        )

    @property
    def model(self) -> Any:
        """The changed object as a model (`Thread`, `Message`, ...), None for a delete."""
        if self.attributes is None or self._client is None:
            return None
        return self._client._model_for(self.object, self.attributes)


@dataclass
class DeltaPage:
    cursor_start: str
    cursor_end: str
    deltas: list[Delta]

    @classmethod
    def from_json(cls, data: dict[str, Any], client: Any = None) -> DeltaPage:
        return cls(
            cursor_start=data.get("cursor_start", ""),
            cursor_end=data.get("cursor_end", ""),
            deltas=[Delta.from_json(d, client) for d in data.get("deltas", [])],
        )

    def __iter__(self) -> Any:
        return iter(self.deltas)

    def __len__(self) -> int:
        return len(self.deltas)
