"""The worker processes a long sync prepares its batches in (MIME parsing, blob files): same
results as parsing here, in order, the bytes in the blob store, and a dead worker costs
nothing but the overlap."""

from __future__ import annotations

import os
import signal

import pytest
import samples

from nylas_engine.mime.parse import ParsedMessage, parse_message
from nylas_engine.store.blobs import BlobStore
from nylas_engine.store.prepare import PIPE, PreparePool, Preparing

TO = "me@example.com"


def _mailbox() -> list[bytes]:
    raws = [samples.plain(f"note {i}", TO, minutes=i) for i in range(7)]
    raws += [
        samples.alternative("newsletter", TO),
        samples.with_attachment_and_inline_image("photos", TO),
        samples.latin1(TO),
        samples.malformed(TO),
    ]
    return raws


def _same(prepared: list[ParsedMessage], raws: list[bytes], blobs: BlobStore | None) -> None:
    """`prepared` says what parsing `raws` here says; with `blobs`, every raw message and
    file is in that store under the key the prepared message gives."""
    expected = [parse_message(raw) for raw in raws]
    assert [(p.subject, p.from_, p.body, p.snippet, p.message_id) for p in prepared] == [
        (p.subject, p.from_, p.body, p.snippet, p.message_id) for p in expected
    ]
    assert [[a.filename for a in p.attachments] for p in prepared] == [
        [a.filename for a in p.attachments] for p in expected
    ]
    for raw, mine, theirs in zip(raws, prepared, expected, strict=True):
        if blobs is None or mine.raw_sha256 is None:
            assert [a.data for a in mine.attachments] == [a.data for a in theirs.attachments]
            continue
        assert blobs.read(mine.raw_sha256) == raw and mine.raw_size == len(raw)
        for part, original in zip(mine.attachments, theirs.attachments, strict=True):
            assert part.data == b""  # not sent back: it is in the store
            assert part.sha256 is not None and blobs.read(part.sha256) == original.data


# The import's workers (a forkserver's) and the sync's (fed over pipes).
START_METHODS = pytest.mark.parametrize("start_method", ["forkserver", PIPE])


@START_METHODS
def test_workers_prepare_batches_in_order_into_the_blob_store(tmp_path, start_method):
    blobs = BlobStore(tmp_path / "blobs")
    raws = _mailbox()
    with PreparePool(blobs, workers=2, start_method=start_method) as pool:
        first, second = pool.submit(raws), pool.submit(raws[::-1])
        assert first.futures is not None  # it really went to the workers
        prepared = first.result()
        assert all(p.raw_sha256 for p in prepared)
        _same(prepared, raws, blobs)
        _same(second.result(), raws[::-1], blobs)


@START_METHODS
def test_a_killed_worker_means_parsing_here_not_a_lost_batch(tmp_path, start_method):
    blobs = BlobStore(tmp_path / "blobs")
    raws = _mailbox()
    with PreparePool(blobs, workers=1, start_method=start_method) as pool:
        pool.submit(raws[:1]).result()  # the worker is up
        executor = pool._executor
        assert executor is not None
        for pid in list(executor._processes):  # both keep their processes by pid
            os.kill(pid, signal.SIGKILL)
        _same(pool.submit(raws).result(), raws, blobs)
        _same(pool.submit(raws).result(), raws, blobs)  # and on, in this process


def test_no_workers_parses_in_process_and_leaves_the_files_to_ingest(tmp_path):
    raws = _mailbox()
    pool = PreparePool(BlobStore(tmp_path / "blobs"), workers=0)
    preparing = pool.submit(raws)
    assert isinstance(preparing, Preparing) and preparing.futures is None
    prepared = preparing.result()
    assert all(p.raw_sha256 is None for p in prepared)
    _same(prepared, raws, None)


def test_warmed_up_workers_are_the_ones_the_next_pool_uses(tmp_path):
    from nylas_engine.store import prepare

    key = (1, PIPE)
    assert prepare._take_idle(key) is None  # none parked by an earlier test
    prepare.warm_up(1, "nylas_engine.sync.fetch")
    warm = prepare._idle[key][0]
    prepare.warm_up(1, "nylas_engine.sync.fetch")  # workers wait already: nothing new
    assert prepare._idle[key][0] is warm
    blobs = BlobStore(tmp_path / "blobs")
    raws = _mailbox()
    with PreparePool(blobs, workers=1, start_method=PIPE) as pool:
        preparing = pool.submit(raws)
        assert pool._executor is warm and preparing.futures is not None
        _same(preparing.result(), raws, blobs)
    taken = prepare._take_idle(key)
    assert taken is warm
    taken.shutdown()


def test_a_pipe_worker_killed_mid_call_fails_it_and_the_calls_waiting_for_it():
    """A pipe worker killed while it runs a call, with more calls waiting for it: each of
    them fails as `BrokenExecutor` (which `Preparing` answers by doing the work in this
    process), none is left waiting forever, and so does every call after them."""
    import time
    from concurrent.futures import BrokenExecutor

    from nylas_engine.store.pipe_workers import PipeWorkers

    workers = PipeWorkers(1)
    try:
        assert workers.submit(len, b"up").result(timeout=30) == 2  # started and answering
        running = workers.submit(time.sleep, 30)
        waiting = [workers.submit(len, b"next"), workers.submit(len, b"after")]
        time.sleep(0.5)
        assert not any(f.done() for f in (running, *waiting))
        (pid,) = workers._processes
        os.kill(pid, signal.SIGKILL)
        for future in (running, *waiting):
            with pytest.raises(BrokenExecutor):
                future.result(timeout=30)
        with pytest.raises(BrokenExecutor):
            workers.submit(len, b"later")
    finally:
        workers.shutdown()
