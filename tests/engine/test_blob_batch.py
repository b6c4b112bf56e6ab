"""`BlobStore.batch`: files written in the background are all on disk when the block ends,
and a write that fails is an error there, never a silent gap."""

from __future__ import annotations

import hashlib

import pytest

from nylas_engine.store.blobs import BlobStore


def test_every_blob_is_on_disk_when_the_block_ends(tmp_path):
    blobs = BlobStore(tmp_path)
    datas = [f"message {n}".encode() * 100 for n in range(200)] + [b"dup", b"dup"]
    with blobs.batch() as batch:
        keys = [batch.put_bytes(data) for data in datas]
    for (key, size), data in zip(keys, datas, strict=True):
        assert key == hashlib.sha256(data).hexdigest() and size == len(data)
        assert blobs.read(key) == data


def _unwritable(blobs: BlobStore, data: bytes) -> None:
    """Make the directory `data` would go into impossible to create."""
    key = hashlib.sha256(data).hexdigest()
    (blobs.root / key[:2]).write_bytes(b"a file where a directory must go")


def test_a_failed_write_is_raised_when_the_block_ends(tmp_path):
    blobs = BlobStore(tmp_path)
    _unwritable(blobs, b"doomed")
    with pytest.raises(OSError), blobs.batch() as batch:
        batch.put_bytes(b"fine")
        batch.put_bytes(b"doomed")
    assert blobs.read(hashlib.sha256(b"fine").hexdigest()) == b"fine"


def test_the_callers_error_wins_over_a_failed_write(tmp_path):
    blobs = BlobStore(tmp_path)
    _unwritable(blobs, b"doomed")
    with pytest.raises(KeyError), blobs.batch() as batch:
        batch.put_bytes(b"doomed")
        raise KeyError("the caller's own failure")
