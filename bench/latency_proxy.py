"""A TCP proxy that delays every byte by half a round trip each way: a server that far away.

`python bench/latency_proxy.py TARGET_HOST TARGET_PORT RTT_MS` listens on a free port of
127.0.0.1, prints it, and forwards each connection to the target, holding what it reads in
either direction for RTT_MS / 2 before writing it on (the bytes keep their order and their
pace: the link's bandwidth is not limited, only its latency). Used by `bench/sync.py --rtt`.
With LATENCY_PROXY_LOG=FILE in its environment it appends what each client sends (the start
of each read, with the time and the connection) to FILE: the commands of a sync in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time

_LOG = os.environ.get("LATENCY_PROXY_LOG")


async def _pipe(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float, log: bool = False
) -> None:
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def deliver() -> None:
        while True:
            due, data = await queue.get()
            if not data:
                break
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()
        writer.close()

    delivering = asyncio.create_task(deliver())
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(1 << 16):
            queue.put_nowait((time.monotonic() + delay, data))
            if log and _LOG:
                with open(_LOG, "a") as out:
                    out.write(f"{time.time():.3f} {id(reader):x} {data[:100]!r}\n")
    queue.put_nowait((time.monotonic() + delay, b""))
    with contextlib.suppress(ConnectionError):
        await delivering


async def _main(host: str, port: int, rtt_ms: float) -> None:
    delay = rtt_ms / 2000

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(host, port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(
            _pipe(reader, up_writer, delay, log=True), _pipe(up_reader, writer, delay)
        )

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(_main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3])))
