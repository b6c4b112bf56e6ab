"""Retries, timeouts, idempotency keys, error mapping and logging, against the fault server."""

from __future__ import annotations

import base64
import email.utils
import logging
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from faultserver import FaultServer, Reply

import nylas
from nylas import APIClient, AsyncAPIClient
from nylas.client import errors

TOKEN = "secret-token-123"


@pytest.fixture
def server() -> Iterator[FaultServer]:
    srv = FaultServer().start()
    yield srv
    srv.stop()


@pytest.fixture
def slept(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record the backoff sleeps instead of sleeping (sync and async loops)."""
    delays: list[float] = []

    async def fake_asleep(seconds: float) -> None:
        delays.append(seconds)

    monkeypatch.setattr("nylas._sync.transport.sleep", delays.append)
    monkeypatch.setattr("nylas._async.transport.asleep", fake_asleep)
    return delays


def make(server: FaultServer, **options: Any) -> APIClient:
    return APIClient(None, None, TOKEN, server.url, **options)


def test_post_retries_on_503_with_one_idempotency_key(
    server: FaultServer, slept: list[float]
) -> None:
    server.then(Reply(503, {"message": "busy"}), Reply(503, {"message": "busy"}))
    with make(server) as client:
        label = client.labels.create(display_name="Retried")
        server.then()  # third attempt gets the default 200
        label.save()
    assert [r.method for r in server.requests] == ["POST"] * 3
    keys = {r.headers["idempotency-key"] for r in server.requests}
    assert len(keys) == 1 and len(next(iter(keys))) == 36
    assert len(slept) == 2 and all(0 < d <= 8 for d in slept)


def test_each_logical_call_gets_its_own_key(server: FaultServer, slept: list[float]) -> None:
    with make(server) as client:
        client.labels.create(display_name="a").save()
        client.labels.create(display_name="b").save()
        client.threads.first()
    post1, post2, get = server.requests
    assert post1.headers["idempotency-key"] != post2.headers["idempotency-key"]
    assert "idempotency-key" not in get.headers


def test_retry_after_seconds_is_honoured(server: FaultServer, slept: list[float]) -> None:
    server.then(Reply(429, {"message": "slow down"}, {"Retry-After": "3"}))
    with make(server) as client:
        assert client.threads.all() == []
    assert len(server.requests) == 2
    assert slept == [3.0]


def test_retry_after_http_date_is_honoured(server: FaultServer, slept: list[float]) -> None:
    when = email.utils.formatdate(time.time() + 20, usegmt=True)
    server.then(Reply(503, {"message": "later"}, {"Retry-After": when}))
    with make(server) as client:
        client.threads.first()
    assert len(server.requests) == 2
    assert len(slept) == 1 and 15 <= slept[0] <= 20


def test_too_long_retry_after_is_not_waited_for(server: FaultServer, slept: list[float]) -> None:
    server.then(Reply(429, {"message": "quota"}, {"Retry-After": "3600"}))
    with make(server) as client, pytest.raises(errors.RateLimitError):
        client.threads.first()
    assert len(server.requests) == 1 and slept == []


@pytest.mark.parametrize("max_retries", [0, 1, 3])
def test_max_retries_is_respected(
    server: FaultServer, slept: list[float], max_retries: int
) -> None:
    server.then(*[Reply(503, {"message": "down", "type": "api_error"})] * 10)
    with (
        make(server, max_retries=max_retries) as client,
        pytest.raises(errors.ServiceUnavailableError) as info,
    ):
        client.threads.first()
    assert len(server.requests) == max_retries + 1
    assert info.value.status_code == 503 and info.value.message == "down"


def test_default_is_two_retries(server: FaultServer, slept: list[float]) -> None:
    server.then(*[Reply(502, {"message": "bad gateway"})] * 5)
    with make(server) as client, pytest.raises(errors.ServerError):
        client.threads.first()
    assert len(server.requests) == 3


def test_client_errors_are_not_retried(server: FaultServer, slept: list[float]) -> None:
    server.then(Reply(400, {"message": "Invalid id: !", "type": "invalid_request_error"}))
    with make(server) as client, pytest.raises(errors.InvalidRequestError):
        client.threads.find("x")
    assert len(server.requests) == 1 and slept == []


def test_dropped_connection_is_retried(server: FaultServer, slept: list[float]) -> None:
    server.then(Reply(drop=True), Reply(body=[{"id": "t1", "object": "thread", "subject": "Hi"}]))
    with make(server) as client:
        thread = client.threads.first()
    assert thread is not None and thread.subject == "Hi"
    assert len(server.requests) == 2 and len(slept) == 1


def test_connection_failure_raises_connection_error(slept: list[float]) -> None:
    srv = FaultServer()  # bound but never serving: nothing answers
    url = srv.url
    srv.httpd.server_close()
    with (
        APIClient(None, None, TOKEN, url, max_retries=1) as client,
        pytest.raises(errors.ConnectionError) as info,
    ):
        client.threads.first()
    assert info.value.status_code is None
    assert info.value.__cause__ is not None  # the transport's own exception, for debugging
    assert f"Could not connect to {url.removeprefix('http://')}" in str(info.value)
    assert len(slept) == 1


@pytest.mark.anyio
async def test_async_connection_error_names_host_and_port() -> None:
    srv = FaultServer()
    url = srv.url
    srv.httpd.server_close()
    async with AsyncAPIClient(None, None, TOKEN, url, max_retries=0) as client:
        with pytest.raises(errors.ConnectionError) as info:
            await client.threads.first()
    assert f"Could not connect to {url.removeprefix('http://')}" in str(info.value)


def test_slow_reply_times_out(server: FaultServer, slept: list[float]) -> None:
    server.then(Reply(delay=1.5), Reply(delay=1.5))
    with (
        make(server, timeout=0.3, max_retries=1) as client,
        pytest.raises(errors.RequestTimeoutError),
    ):
        client.threads.first()
    assert len(server.requests) == 2  # a timeout is retried too


def test_per_client_timeout_via_with_options(server: FaultServer, slept: list[float]) -> None:
    server.then(Reply(delay=1.5))
    with make(server, max_retries=0) as client:
        quick = client.with_options(timeout=0.3)
        with pytest.raises(errors.RequestTimeoutError):
            quick.threads.first()
        # The original client keeps its generous default and shares the pool.
        server.then(Reply(delay=0.5, body=[]))
        assert client.threads.first() is None


def test_error_carries_status_message_server_error_and_request_id(server: FaultServer) -> None:
    server.then(
        Reply(
            402,
            {
                "message": "Message rejected",
                "type": "api_error",
                "server_error": "550 : no such user",
            },
            {"X-Request-Id": "req-42"},
        )
    )
    with make(server) as client:
        draft = client.drafts.create(to=[{"email": "a@example.com"}])
        with pytest.raises(errors.MessageRejectedError) as info:
            draft.send()
    err = info.value
    assert err.status_code == 402
    assert err.message == "Message rejected"
    assert err.server_error == "550 : no such user"
    assert err.request_id == "req-42"
    assert err.body["type"] == "api_error"
    assert "req-42" in str(err) and "402" in str(err)
    assert isinstance(err, errors.APIError) and isinstance(err, errors.NylasError)


def test_status_table(server: FaultServer, slept: list[float]) -> None:
    expected = {
        400: errors.InvalidRequestError,
        401: errors.NotAuthorizedError,
        403: errors.NotAuthorizedError,
        404: errors.NotFoundError,
        405: errors.MethodNotSupportedError,
        409: errors.ConflictError,
        413: errors.PayloadTooLargeError,
        500: errors.ServerError,
        504: errors.ServerTimeoutError,
    }
    with make(server, max_retries=0) as client:
        for status, cls in expected.items():
            server.then(Reply(status, {"message": f"m{status}"}))
            with pytest.raises(cls) as info:
                client.threads.find("abc")
            assert info.value.status_code == status and info.value.message == f"m{status}"


def test_rate_limit_headers_are_parsed(server: FaultServer) -> None:
    headers = {"X-RateLimit-Limit": "500", "X-RateLimit-Reset": "30"}
    server.then(Reply(429, {"message": "Too many requests"}, headers))
    with (
        make(server, max_retries=0) as client,
        pytest.raises(errors.SendingQuotaExceededError) as info,
    ):
        client.threads.first()
    err = info.value
    assert isinstance(err, errors.RateLimitError)
    assert err.rate_limit == 500 and err.rate_limit_reset == 30


def test_503_on_send_is_a_connection_error(server: FaultServer) -> None:
    server.then(
        Reply(503, {"message": "Could not connect to the SMTP server.", "type": "api_error"})
    )
    with make(server, max_retries=0) as client:
        draft = client.drafts.create(to=[{"email": "a@example.com"}])
        with pytest.raises(errors.ConnectionError) as info:
            draft.send()
    assert isinstance(info.value, errors.ServiceUnavailableError)
    assert info.value.status_code == 503


def test_non_json_error_body(server: FaultServer) -> None:
    server.then(Reply(500, b"Internal Server Error"))
    with make(server, max_retries=0) as client, pytest.raises(errors.ServerError) as info:
        client.threads.first()
    assert info.value.message == "Internal Server Error"


def test_headers_and_auth(server: FaultServer) -> None:
    with APIClient("app1", "appsecret", TOKEN, server.url) as client:
        client.threads.first()
        client.accounts.first()
    account_call, app_call = server.requests
    assert account_call.headers["authorization"] == f"Bearer {TOKEN}"
    assert account_call.headers["user-agent"].startswith("Nylas Python SDK")
    assert app_call.path.startswith("/a/app1/accounts")
    expected = "Basic " + base64.b64encode(b"appsecret:").decode()
    assert app_call.headers["authorization"] == expected


def test_upload_is_rewound_for_a_retry(
    server: FaultServer, slept: list[float], tmp_path: Any
) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(b"0123456789" * 10_000)
    server.then(Reply(503, {"message": "busy"}))
    server.then(
        Reply(body=[{"id": "f1", "object": "file", "filename": "data.bin", "size": 100000}])
    )
    with make(server) as client, path.open("rb") as stream:
        upload = client.files.create()
        upload.stream = stream
        upload.save()
    first, second = server.requests

    def without_boundary(seen: Any) -> bytes:
        boundary = seen.headers["content-type"].split("boundary=")[1].encode()
        return bytes(seen.body.replace(boundary, b"BOUNDARY"))

    assert without_boundary(first) == without_boundary(second)
    assert b"0123456789" * 10_000 in second.body
    assert upload.id == "f1" and upload.size == 100_000


def test_logging_is_silent_by_default_and_redacts(
    server: FaultServer, caplog: pytest.LogCaptureFixture
) -> None:
    assert logging.getLogger("nylas").handlers[0].__class__ is logging.NullHandler
    with caplog.at_level(logging.DEBUG, logger="nylas"), make(server) as client:
        client.threads.first()
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "GET" in text and "/threads" in text
    assert TOKEN not in text and "<redacted>" in text


def test_nylas_log_env_turns_on_logging(server: FaultServer) -> None:
    code = (
        "from nylas import APIClient\n"
        f"APIClient(None, None, {TOKEN!r}, {server.url!r}).threads.first()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"NYLAS_LOG": "debug", "PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "/threads" in done.stderr and "<redacted>" in done.stderr
    assert TOKEN not in done.stderr
    quiet = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert quiet.stderr == ""


def test_http_client_can_be_passed_in(server: FaultServer) -> None:
    import httpx

    with httpx.Client(headers={"X-Custom": "yes"}) as http:
        client = APIClient(None, None, TOKEN, server.url, http_client=http)
        client.threads.first()
        client.close()  # does not close a pool it does not own
        client.threads.first()
    assert all(r.headers.get("x-custom") == "yes" for r in server.requests)


def test_version() -> None:
    assert nylas.__version__


@pytest.mark.anyio
async def test_async_retries_with_one_key(server: FaultServer, slept: list[float]) -> None:
    server.then(Reply(429, {"message": "slow"}, {"Retry-After": "2"}), Reply(503, {"message": "x"}))
    async with AsyncAPIClient(None, None, TOKEN, server.url) as client:
        label = client.labels.create(display_name="x")
        await label.save()
    assert len(server.requests) == 3
    assert len({r.headers["idempotency-key"] for r in server.requests}) == 1
    assert slept[0] == 2.0 and len(slept) == 2


@pytest.mark.anyio
async def test_async_timeout(server: FaultServer) -> None:
    server.then(Reply(delay=1.5))
    async with AsyncAPIClient(None, None, TOKEN, server.url, timeout=0.3, max_retries=0) as c:
        with pytest.raises(errors.RequestTimeoutError):
            await c.threads.first()


def test_in_progress_idempotency_conflict_is_retried(
    server: FaultServer, slept: list[float]
) -> None:
    # What the engine answers when a retry overtakes the first attempt of the same key.
    busy = {"message": "A request with this Idempotency-Key is still in progress."}
    server.then(
        Reply(409, busy, {"Idempotent-Replayed": "false"}),
        Reply(body={"id": "l1", "object": "label", "display_name": "x"}),
    )
    with make(server) as client:
        label = client.labels.create(display_name="x")
        label.save()
    assert label.id == "l1" and len(server.requests) == 2
    # A real version conflict is not retried.
    server.then(Reply(409, {"message": "Draft has already been updated"}))
    with make(server) as client, pytest.raises(errors.ConflictError):
        client.labels.create(display_name="y").save()


def test_raw_message_not_synced_yet_is_unsynced_error(server: FaultServer) -> None:
    # Hosted v2 answers 202 while the raw MIME is not available; the engine never does.
    server.then(Reply(body={"id": "m1", "object": "message", "subject": "Hi"}))
    server.then(Reply(202, b""))
    with make(server) as client:
        message = client.messages.find("m1")
        with pytest.raises(errors.UnSyncedError) as info:
            _ = message.raw
    assert info.value.status_code == 202
    assert server.requests[1].headers["accept"] == "message/rfc822"


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_async_client_runs_under_asyncio_and_trio(
    server: FaultServer, anyio_backend: str
) -> None:
    # A real (short) backoff sleep: anyio's sleep works under either event loop.
    server.then(Reply(503, {"message": "busy"}, {"Retry-After": "0"}))
    async with AsyncAPIClient(None, None, TOKEN, server.url) as client:
        assert await client.threads.all() == []
    assert len(server.requests) == 2
