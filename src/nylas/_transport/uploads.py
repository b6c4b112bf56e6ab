"""Turn what users put in `file.data` / `file.stream` into a multipart part that streams.

httpx reads a binary file object in chunks, so nothing is held whole in memory. Text-mode
files (the seed README opens `test.py` with 'r') are encoded chunk by chunk as UTF-8.
"""

from __future__ import annotations

import io
from typing import Any

CHUNK = 64 * 1024


class TextAsBytes:
    """A read-only binary view of a text file object, encoding as it reads."""

    def __init__(self, text: Any, encoding: str = "utf-8") -> None:
        self._text = text
        self._encoding = encoding
        self._pending = b""
        self._start = _tell(text)

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            data: bytes = self._pending + self._text.read().encode(self._encoding)
            self._pending = b""
            return data
        while len(self._pending) < size:
            chunk = self._text.read(CHUNK)
            if not chunk:
                break
            self._pending += chunk.encode(self._encoding)
        data, self._pending = self._pending[:size], self._pending[size:]
        return data

    def seekable(self) -> bool:
        return self._start is not None

    def seek(self, offset: int, whence: int = 0) -> int:
        # Only rewinding to where we started is meaningful on a text stream.
        if offset != 0 or whence != 0 or self._start is None:
            raise io.UnsupportedOperation("can only rewind")
        self._text.seek(self._start)
        self._pending = b""
        return 0


def _tell(stream: Any) -> int | None:
    try:
        if hasattr(stream, "seekable") and not stream.seekable():
            return None
        position: int = stream.tell()
        return position
    except (OSError, AttributeError, ValueError):
        return None


class UploadBody:
    """The object handed to httpx for one file part, rewound before each retry."""

    def __init__(self, source: Any) -> None:
        if isinstance(source, str):
            source = source.encode("utf-8")
        if isinstance(source, (bytes, bytearray, memoryview)):
            self.file: Any = bytes(source)
            self._start: int | None = 0
            return
        if isinstance(source, io.TextIOBase) or _is_text(source):
            source = TextAsBytes(source)
            self.file = source
            self._start = 0 if source.seekable() else None
            return
        self.file = source
        self._start = _tell(source)

    @property
    def rewindable(self) -> bool:
        return self._start is not None

    def rewind(self) -> None:
        if isinstance(self.file, bytes) or self._start is None:
            return
        if isinstance(self.file, TextAsBytes):
            self.file.seek(0)
        else:
            self.file.seek(self._start)


def _is_text(stream: Any) -> bool:
    return hasattr(stream, "encoding") and not hasattr(stream, "readinto")
