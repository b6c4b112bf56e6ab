"""Where one API request's time goes, in-process (issue 13).

    python bench/profile_api.py [--messages 2000] [--requests 300] [--profile PATH]

Seeds a SQLite database as bench/api.py does (`seed`), builds the engine's ASGI app and
drives it directly (no sockets, no uvicorn) with one client, sequentially: the mean time of
each endpoint bench/api.py measures. `--profile PATH` names an endpoint to run under
cProfile (every thread, through `threading.setprofile`), printing the top functions by
cumulative and own time.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import cProfile
import pstats
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests"), str(ROOT / "tests" / "engine")]
sys.path.insert(0, str(ROOT / "bench"))

import httpx  # noqa: E402

PATHS = [
    "/threads?limit=100",
    "/threads?in=inbox&unread=true&limit=50",
    "/threads?view=ids&limit=100",
    "/messages?limit=100",
    "/messages/{id}",
    "/threads?limit=1",
    "/threads?limit=1&offset=1",
    "/messages/search?q=budget&limit=20",
]


async def drive(app: Any, token: str, path: str, count: int) -> tuple[float, float]:
    """(wall, CPU) milliseconds per request of `count` sequential GETs of `path`. CPU time
    is the whole process's (every thread): what a saturated core spends per request, much
    less disturbed by other jobs on the machine than the wall time."""
    auth = base64.b64encode(f"{token}:".encode()).decode()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://engine", headers={"Authorization": f"Basic {auth}"}
    ) as client:
        reply = await client.get(path)
        assert reply.status_code == 200, (path, reply.text[:200])
        started, cpu = time.perf_counter(), time.process_time()
        for _ in range(count):
            await client.get(path)
        wall = (time.perf_counter() - started) * 1000 / count
        return wall, (time.process_time() - cpu) * 1000 / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--profile", help="one of the paths, e.g. /messages/{id}")
    parser.add_argument("--only", help="time only this path (e.g. under py-spy)")
    parser.add_argument("--data", help="reuse (or make) the data directory here")
    args = parser.parse_args()

    from api import seed

    from nylas_engine.api.app import create_app
    from nylas_engine.config import Settings
    from nylas_engine.context import EngineContext
    from nylas_engine.store.db import Database

    data = Path(args.data or tempfile.mkdtemp(prefix="nylas-profile-"))
    url = f"sqlite:///{data / 'engine.db'}"
    token_file = data / "token"
    if not token_file.exists():
        Database(url).engine.dispose()
        token, ids = seed(url, data / "blobs", args.messages)
        token_file.write_text(f"{token} {ids[len(ids) // 2]}")
    token, message_id = token_file.read_text().split()
    settings = Settings(data_dir=data)
    app = create_app(EngineContext.open(settings))

    async def run() -> None:
        async with app.router.lifespan_context(app):
            if args.profile:
                path = args.profile.replace("{id}", message_id)
                await drive(app, token, path, 20)
                profiler = cProfile.Profile()
                threading.setprofile(lambda *_: profiler.enable())  # worker threads too
                profiler.enable()
                wall, cpu = await drive(app, token, path, args.requests)
                profiler.disable()
                threading.setprofile(None)  # type: ignore[arg-type]
                print(f"{args.profile}: {wall:.2f} ms ({cpu:.2f} ms CPU) per request, profiled")
                stats = pstats.Stats(profiler)
                stats.sort_stats("cumulative").print_stats(45)
                stats.sort_stats("tottime").print_stats(30)
                return
            for template in [args.only] if args.only else PATHS:
                path = template.replace("{id}", message_id)
                wall, cpu = await drive(app, token, path, args.requests)
                print(f"{template:45} {wall:7.2f} ms {cpu:7.2f} ms CPU")

    asyncio.run(run())


if __name__ == "__main__":
    main()
