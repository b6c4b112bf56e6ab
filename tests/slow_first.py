"""The order that keeps a run on several workers (pytest-xdist, `--dist worksteal`) from ending
with one worker alone on a long test.

Worksteal hands each worker one contiguous slice of the collection, then lets an idle worker
take the back half of a busy one's queue. A test of minutes left in the middle of a slice
starts late and nothing can share it: the run waits for it. So the modules that take longest
(CI's `--durations`) go to the front of the slices, spread over the workers, each module
kept whole (its module-scoped servers start once); the other tests keep their order.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TypeVar

# Seconds a module took in CI on SQLite (3 workers on 2 cores), roughly; modules of a minute
# or more. Their tests run first; the list needs only to be about right. Not here: modules
# that split their slow checks into shards for the workers to share (test_bad_input.py).
SLOW_MODULES = {
    "tests/sync/test_conflicts.py": 230,
    "tests/sync/test_connect_hosts.py": 220,
    "tests/sync/test_oauth_accounts.py": 190,
    "tests/sdk/test_examples.py": 150,
    "tests/sync/test_connect_takeover.py": 145,
    "tests/sync/test_fleet.py": 120,
    "tests/sdk/test_fresh_clone.py": 75,
    "tests/engine/test_openapi_conformance.py": 75,
    "tests/engine/test_webhook_delivery.py": 70,
    "tests/engine/test_auth_rate_limit.py": 60,
    "tests/dav/test_dav_sync.py": 60,
    "tests/dav/test_dav_connect.py": 55,
    "tests/sdk/test_testing_plugin.py": 50,
}

T = TypeVar("T")


def worker_count() -> int:
    """How many workers share the run (1 without xdist)."""
    return int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))


def slice_sizes(total: int, workers: int) -> list[int]:
    """The lengths of the slices worksteal hands out first (xdist's WorkStealingScheduling:
    to each idle worker in turn, what is left divided by the workers still to serve)."""
    sizes = []
    for served in range(workers):
        size = total // (workers - served)
        sizes.append(size)
        total -= size
    return sizes


def spread_slow_first(items: Sequence[T], module_of: dict[int, str], workers: int) -> list[T]:
    """`items` reordered: the slow modules' tests at the head of the workers' slices, the
    slowest modules first and each to the slice with the least slow time so far; everything
    else after them in its own order. `module_of` maps an item's index to its module path."""
    if workers < 2:
        return list(items)
    blocks: dict[str, list[T]] = {}
    rest: list[T] = []
    for index, item in enumerate(items):
        module = module_of[index]
        if module in SLOW_MODULES:
            blocks.setdefault(module, []).append(item)
        else:
            rest.append(item)
    sizes = slice_sizes(len(items), workers)
    heads: list[list[T]] = [[] for _ in sizes]
    loads = [0] * len(sizes)
    for module in sorted(blocks, key=lambda m: (-SLOW_MODULES[m], m)):
        # the least loaded slice that still has room for the whole module
        fits = [n for n in range(len(sizes)) if len(heads[n]) + len(blocks[module]) <= sizes[n]]
        if not fits:
            return list(items)  # a selection too small to spread: keep the order
        chosen = min(fits, key=lambda n: (loads[n], n))
        heads[chosen] += blocks[module]
        loads[chosen] += SLOW_MODULES[module]
    ordered: list[T] = []
    for head, size in zip(heads, sizes, strict=True):
        fill = size - len(head)
        ordered += head + rest[:fill]
        rest = rest[fill:]
    return ordered
