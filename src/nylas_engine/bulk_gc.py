"""Fewer garbage collections while a process stores or parses mail in bulk.

CPython runs its cycle collector every 700 net new container objects, and a sync batch
makes hundreds of thousands (parsed messages, rows, ORM state), almost none of them in a
cycle: an initial sync spent ~10% of the storing process's CPU in collections (0.57 of
5.8 s, seven of them full ones walking every object; bench/RESULTS.md, "IMAP sync").
Meanwhile the collector's first threshold is raised, so it runs ~15 times less often;
reference counting still frees everything outside a cycle at once, and cycles are still
collected, a little later.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

BULK_THRESHOLD = 10_000  # new container objects between collections (CPython's default: 700)

_lock = threading.Lock()
_holders = 0  # syncs in bulk at once (the API's threads may run several)
_saved = 700


@contextlib.contextmanager
def fewer_collections() -> Iterator[None]:
    """Within the block (in any thread of the process), collect every BULK_THRESHOLD new
    objects; the threshold before is back once the last such block has ended."""
    global _holders, _saved
    with _lock:
        if _holders == 0:
            _saved = gc.get_threshold()[0]
            raise_threshold()
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0:
                gc.set_threshold(_saved, *gc.get_threshold()[1:])


def raise_threshold() -> None:
    """For the rest of this process: a worker that only parses or stores in bulk."""
    first, *rest = gc.get_threshold()
    gc.set_threshold(max(first, BULK_THRESHOLD), *rest)
