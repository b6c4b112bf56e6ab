"""Multipart uploads streamed into the blob store, never held in memory whole.

The request body is fed chunk by chunk to python-multipart's streaming parser; every part
that carries a filename (whatever its field name) is written to a blob as it arrives. The
size limit counts bytes as they come, so a body without Content-Length is cut off too, and
a request may hold at most MAX_FILES files and MAX_PARTS parts (a flood of tiny parts is a
400 at the first one past the cap, before any file row exists).
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import Message
from typing import Any

from fastapi import Request
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool

from nylas_engine.api.errors import APIError, bad_request
from nylas_engine.store.blobs import BlobStore, BlobTooLarge

# Read (and drop) at most this much of an oversized body before answering 413, so that the
# client sees the reply instead of a reset connection.
_DRAIN_LIMIT = 16 * 1024 * 1024
_FORM_OVERHEAD = 1024 * 1024  # headers, boundaries and small fields around the files
MAX_FILES = 100  # file parts per upload request
MAX_PARTS = 1000  # parts of any kind per upload request


@dataclass
class UploadedPart:
    filename: str | None
    content_type: str | None
    sha256: str
    size: int


def too_large(limit: int) -> APIError:
    return APIError(413, f"Upload is larger than the limit of {limit} bytes.", "api_error")


async def receive_files(request: Request, blobs: BlobStore, limit: int) -> list[UploadedPart]:
    """Store every file part of a multipart/form-data request; 413 past `limit` bytes."""
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise bad_request("Invalid request: a file upload must be multipart/form-data")
    receiver = _Receiver(blobs, limit)
    received = 0
    stream = request.stream()
    try:
        parser = MultipartParser(boundary, receiver.callbacks())  # a boundary over 256: 400
        async for chunk in stream:
            received += len(chunk)
            if received > limit + _FORM_OVERHEAD:
                raise BlobTooLarge(limit)
            await run_in_threadpool(parser.write, chunk)
        parser.finalize()
    except BlobTooLarge:
        receiver.abort()
        await _drain(stream)
        raise too_large(limit) from None
    except APIError:
        receiver.abort()
        await _drain(stream)
        raise
    except Exception as exc:  # a malformed body: python-multipart's own errors
        receiver.abort()
        raise bad_request(f"Invalid multipart body: {exc}") from exc
    if receiver.open is not None:
        receiver.abort()
        raise bad_request("Invalid multipart body: the last part is incomplete")
    if not receiver.parts:
        raise bad_request("No file was found in the upload.")
    return receiver.parts


async def _drain(stream: Any) -> None:
    drained = 0
    try:
        async for chunk in stream:
            drained += len(chunk)
            if drained > _DRAIN_LIMIT:
                return
    except Exception:  # the client went away: nothing left to read
        return


class _Receiver:
    """python-multipart callbacks: collect a part's headers, then stream its data to a blob."""

    def __init__(self, blobs: BlobStore, limit: int) -> None:
        self.blobs = blobs
        self.limit = limit
        self.used = 0
        self.seen = 0  # parts begun, files or not
        self.parts: list[UploadedPart] = []
        self.open: Any = None  # the blob writer of the file part being received
        self._headers: dict[str, str] = {}
        self._field = bytearray()
        self._value = bytearray()
        self._filename: str | None = None
        self._content_type: str | None = None

    def callbacks(self) -> Any:
        return {
            "on_part_begin": self._begin,
            "on_header_field": lambda d, s, e: self._field.extend(d[s:e]),
            "on_header_value": lambda d, s, e: self._value.extend(d[s:e]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._data,
            "on_part_end": self._end,
        }

    def _begin(self) -> None:
        self.seen += 1
        if self.seen > MAX_PARTS:
            raise bad_request(f"Too many parts in the upload: at most {MAX_PARTS} are allowed.")
        self._headers = {}
        self.open = None

    def _header_end(self) -> None:
        name = _text(bytes(self._field)).strip().lower()
        self._headers[name] = _text(bytes(self._value)).strip()
        self._field.clear()
        self._value.clear()

    def _headers_finished(self) -> None:
        disposition = Message()
        disposition["Content-Disposition"] = self._headers.get("content-disposition", "")
        filename = disposition.get_filename()
        if filename is None:  # a plain form field: not stored
            return
        if len(self.parts) >= MAX_FILES:
            raise bad_request(f"Too many files in one upload: at most {MAX_FILES} are allowed.")
        self._filename = filename
        self._content_type = self._headers.get("content-type")
        self.open = self.blobs.writer(self.limit - self.used)

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self.open is not None:
            self.open.write(data[start:end])

    def _end(self) -> None:
        if self.open is None:
            return
        sha256, size = self.open.finish()
        self.open = None
        self.used += size
        self.parts.append(UploadedPart(self._filename, self._content_type, sha256, size))

    def abort(self) -> None:
        if self.open is not None:
            self.open.abort()
            self.open = None


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")
