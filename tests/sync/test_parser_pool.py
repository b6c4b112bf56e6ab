"""The parser processes a long sync parses its batches in: same results as parsing here, in
order, and a dead worker costs nothing but the overlap."""

from __future__ import annotations

import os
import signal

import samples

from nylas_engine.mime.parse import parse_message
from nylas_engine.mime.pool import ParserPool, Parsing

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


def _same(parsed: list, raws: list[bytes]) -> None:
    expected = [parse_message(raw) for raw in raws]
    assert [(p.subject, p.from_, p.body, p.snippet, p.message_id) for p in parsed] == [
        (p.subject, p.from_, p.body, p.snippet, p.message_id) for p in expected
    ]
    assert [[(a.filename, a.data) for a in p.attachments] for p in parsed] == [
        [(a.filename, a.data) for a in p.attachments] for p in expected
    ]


def test_workers_parse_a_batch_in_order_like_this_process():
    raws = _mailbox()
    with ParserPool(workers=2) as pool:
        first, second = pool.submit(raws), pool.submit(raws[::-1])
        _same(first.result(), raws)
        _same(second.result(), raws[::-1])
        assert first.futures is not None  # it really went to the workers


def test_a_killed_worker_means_parsing_here_not_a_lost_batch():
    raws = _mailbox()
    with ParserPool(workers=1) as pool:
        pool.submit(raws[:1]).result()  # the worker is up
        executor = pool._executor
        assert executor is not None
        for pid in list(executor._processes):
            os.kill(pid, signal.SIGKILL)
        _same(pool.submit(raws).result(), raws)
        _same(pool.submit(raws).result(), raws)  # and on, in this process


def test_no_workers_parses_in_process():
    raws = _mailbox()
    pool = ParserPool(workers=0)
    parsing = pool.submit(raws)
    assert isinstance(parsing, Parsing) and parsing.futures is None
    _same(parsing.result(), raws)
