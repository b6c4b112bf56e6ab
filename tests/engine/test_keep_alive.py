"""A client's idle keep-alive connection outlives its pool's idle timeout on the server side:
httpx (and Node's agent) reuse a connection for up to 5 s, and a server closing it at the
same moment answers the request sent on it with a connection reset."""

from __future__ import annotations

import asyncio
import http.client
import socket
import time
from urllib.parse import urlsplit

from nylas.testing import LocalEngine
from nylas_engine.listener import bind


def test_a_connection_idle_for_longer_than_clients_keep_theirs_still_answers(
    engine: LocalEngine,
) -> None:
    url = urlsplit(engine.url)
    assert url.hostname is not None
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    try:
        connection.request("GET", "/")
        first = connection.getresponse()
        first.read()
        socket = connection.sock
        time.sleep(6)  # idle past httpx's 5 s (and uvicorn's default keep-alive)
        connection.request("GET", "/")  # on the same connection: no reconnect
        second = connection.getresponse()
        second.read()
        assert (first.status, second.status) == (200, 200)
        assert connection.sock is socket
    finally:
        connection.close()


def test_the_engines_connections_send_each_write_at_once() -> None:
    """A response goes out as headers, then body. On a connection with Nagle's algorithm on,
    the body waited for the client's delayed ACK of the headers (~40 ms a request on a
    keep-alive connection). asyncio turns it off (TCP_NODELAY) on the connections it accepts
    only from a socket made for TCP by name, as the engine's listening sockets now are."""

    async def accepted_nodelay(listening: socket.socket) -> int:
        got: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        def on_connect(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            conn = writer.get_extra_info("socket")
            got.set_result(conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(on_connect, sock=listening)
        async with server:
            _, writer = await asyncio.open_connection(*listening.getsockname()[:2])
            try:
                return await asyncio.wait_for(got, 10)
            finally:
                writer.close()

    for share_port in (False, True):  # `serve`, and each process of `serve --workers N`
        assert asyncio.run(accepted_nodelay(bind("127.0.0.1", 0, share_port=share_port))) != 0
