"""A client's idle keep-alive connection outlives its pool's idle timeout on the server side:
httpx (and Node's agent) reuse a connection for up to 5 s, and a server closing it at the
same moment answers the request sent on it with a connection reset."""

from __future__ import annotations

import http.client
import time
from urllib.parse import urlsplit

from nylas.testing import LocalEngine


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
