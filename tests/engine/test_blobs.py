"""The blob store: small blobs in the pack, large ones as files, both read the same way;
`BlobStore.batch` has every blob stored when its block ends, and a write that fails is an
error there, never a silent gap."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
from pathlib import Path
from typing import Any

import pytest

from nylas_engine.store.blobs import BlobStore

LARGE = BlobStore.SMALL + 1


def _files(blobs: BlobStore) -> list[str]:
    return sorted(p.name for p in blobs.root.glob("??/??/*"))


def test_small_blobs_go_to_the_pack_large_ones_to_files_and_read_alike(tmp_path):
    blobs = BlobStore(tmp_path)
    small, large = b"a message" * 100, b"x" * LARGE
    small_key, small_size = blobs.put_bytes(small)
    with blobs.batch() as batch:
        large_key, large_size = batch.put_bytes(large)
    assert (small_size, large_size) == (len(small), len(large))
    assert _files(blobs) == [large_key]  # the small one made no file

    for key, data in ((small_key, small), (large_key, large)):
        assert key == hashlib.sha256(data).hexdigest()
        assert blobs.exists(key) and blobs.size(key) == len(data)
        assert blobs.read(key) == data
        assert b"".join(blobs.iter_chunks(key, 1000)) == data
        with blobs.open(key) as fh:
            assert fh.read() == data
        blobs.delete(key)
        assert not blobs.exists(key)
        with pytest.raises(FileNotFoundError):
            blobs.read(key)


def test_a_second_store_on_the_same_root_sees_the_pack(tmp_path):
    key, _ = BlobStore(tmp_path).put_bytes(b"shared")
    assert BlobStore(tmp_path).read(key) == b"shared"


def test_every_blob_is_stored_when_the_block_ends(tmp_path):
    blobs = BlobStore(tmp_path)
    datas = [f"message {n}".encode() * 100 for n in range(200)] + [b"dup", b"dup", b"y" * LARGE]
    with blobs.batch() as batch:
        keys = [batch.put_bytes(data) for data in datas]
        assert not blobs.exists(keys[0][0])  # the pack is written when the block ends
    for (key, size), data in zip(keys, datas, strict=True):
        assert key == hashlib.sha256(data).hexdigest() and size == len(data)
        assert blobs.read(key) == data


def _unwritable(blobs: BlobStore, data: bytes) -> None:
    """Make the directory the file of `data` would go into impossible to create."""
    key = hashlib.sha256(data).hexdigest()
    (blobs.root / key[:2]).write_bytes(b"a file where a directory must go")


def test_a_failed_write_is_raised_when_the_block_ends(tmp_path):
    blobs = BlobStore(tmp_path)
    doomed = b"d" * LARGE
    _unwritable(blobs, doomed)
    with pytest.raises(OSError), blobs.batch() as batch:
        batch.put_bytes(b"fine")
        batch.put_bytes(doomed)
    assert blobs.read(hashlib.sha256(b"fine").hexdigest()) == b"fine"


def test_the_callers_error_wins_over_a_failed_write(tmp_path):
    blobs = BlobStore(tmp_path)
    doomed = b"d" * LARGE
    _unwritable(blobs, doomed)
    with pytest.raises(KeyError), blobs.batch() as batch:
        batch.put_bytes(doomed)
        batch.put_bytes(b"small, never stored")
        raise KeyError("the caller's own failure")
    assert not blobs.exists(hashlib.sha256(b"small, never stored").hexdigest())


def _put_when_all_are_ready(root: str, ready: Any, answers: Any) -> None:
    ready.wait()
    try:
        BlobStore(Path(root)).put_bytes(b"blob " + os.urandom(8))
        answers.put("ok")
    except Exception as exc:  # noqa: BLE001 - reported to the test
        answers.put(repr(exc))


def test_processes_opening_a_new_pack_at_once_all_store_their_blobs(tmp_path):
    """A sync's worker processes may open a new blob pack at the same moment: SQLite fails
    all but one of them at once when each wants the file alone to make it WAL. (Before the
    retry, 6 of 40 rounds like these had a process fail with "database is locked".)"""
    context = multiprocessing.get_context("fork")
    for round_ in range(20):
        root = tmp_path / f"blobs{round_}"
        ready, answers = context.Barrier(6), context.Queue()
        processes = [
            context.Process(target=_put_when_all_are_ready, args=(str(root), ready, answers))
            for _ in range(6)
        ]
        for process in processes:
            process.start()
        for process in processes:
            process.join(60)
        assert [answers.get(timeout=10) for _ in processes] == ["ok"] * 6


def test_a_new_pack_has_large_pages_and_an_old_one_keeps_its_own(tmp_path):
    import sqlite3

    from nylas_engine.store.blobs import PACK_PAGE

    old_root = tmp_path / "old"
    old_root.mkdir()
    made_before = sqlite3.connect(old_root / "pack.db")  # a pack an older engine made
    made_before.execute("PRAGMA journal_mode=WAL")
    made_before.execute("CREATE TABLE blobs (key TEXT PRIMARY KEY, data BLOB)")
    made_before.close()
    for root, page in ((tmp_path / "new", PACK_PAGE), (old_root, 4096)):
        store = BlobStore(root)
        key, _ = store.put_bytes(b"a small message")
        assert store.read(key) == b"a small message"
        pack = sqlite3.connect(root / "pack.db")
        assert pack.execute("PRAGMA page_size").fetchone()[0] == page
        pack.close()
