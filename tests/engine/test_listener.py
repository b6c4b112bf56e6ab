"""The API's listening socket (listener.py), as the server that accepts on it sees it."""

from __future__ import annotations

import asyncio
import socket

import pytest

from nylas_engine.listener import bind


@pytest.mark.parametrize("share_port", [False, True])
def test_connections_on_the_engines_socket_send_without_waiting_for_acks(share_port):
    """asyncio (so uvicorn) turns Nagle's algorithm off on connections it accepts only when
    the listening socket says it is TCP: with it on, a reply written in two parts waited
    for the client's delayed ACK, 40 ms added to each request a client made in turn."""

    async def accept_one() -> int:
        sock = bind("127.0.0.1", 0, share_port=share_port)
        accepted: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        class Server(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                conn = transport.get_extra_info("socket")
                accepted.set_result(conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                transport.close()

        server = await asyncio.get_running_loop().create_server(Server, sock=sock)
        async with server:
            _, writer = await asyncio.open_connection(*sock.getsockname()[:2])
            nodelay = await asyncio.wait_for(accepted, 10)
            writer.close()
        return nodelay

    assert asyncio.run(accept_one()) != 0
