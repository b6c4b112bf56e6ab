"""The one call that differs between the async source and its sync twin: sleeping.

`scripts/unasync.py` renames `asleep` to `sleep`. anyio's sleep works under asyncio and trio.
"""

from __future__ import annotations

import time


async def asleep(seconds: float) -> None:
    import anyio

    await anyio.sleep(seconds)


def sleep(seconds: float) -> None:
    time.sleep(seconds)
