"""The send/sleep loop (async). The only module that talks to httpx; all policy it applies
(URL, headers, retry decisions, error mapping, logging) comes from `nylas._transport`."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx

from nylas._transport import policy
from nylas._transport.config import ClientConfig, Timeout, needs_idempotency_key
from nylas._transport.config import new_idempotency_key as _new_key
from nylas._transport.io import asleep
from nylas._transport.logs import logger, redact
from nylas._transport.request import Reply, Request
from nylas._transport.uploads import UploadBody
from nylas.client.errors import (
    APIError,
    ConnectionError,
    RequestTimeoutError,
    error_for_reply,
)

REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-nylas-request-id")


def to_httpx_timeout(value: Any) -> httpx.Timeout:
    if isinstance(value, httpx.Timeout):
        return value
    if isinstance(value, Timeout):
        return httpx.Timeout(
            value.read, connect=value.connect, read=value.read, write=value.write, pool=value.pool
        )
    return httpx.Timeout(value)


def address_of(url: httpx.URL) -> str:
    """`host:port` of `url`, the port spelt out even when it is the scheme's default."""
    port = url.port or (443 if url.scheme == "https" else 80)
    host = f"[{url.host}]" if ":" in url.host else url.host
    return f"{host}:{port}"


def request_id_of(headers: httpx.Headers) -> str | None:
    for name in REQUEST_ID_HEADERS:
        if name in headers:
            return headers[name]
    return None


class Transport:
    def __init__(self, config: ClientConfig, http_client: httpx.AsyncClient | None = None):
        self.config = config
        self._owns_client = http_client is None
        self._timeout = to_httpx_timeout(config.timeout)
        # A plain-http server (a local engine) never needs certificates: skip loading them.
        plain = config.api_server.startswith("http://")
        self._http = http_client or httpx.AsyncClient(
            timeout=self._timeout, follow_redirects=False, verify=not plain
        )

    def derive(self, config: ClientConfig) -> Transport:
        """A transport with other settings sharing this one's connection pool."""
        twin = Transport(config, self._http)
        twin._owns_client = False
        return twin

    async def close(self) -> None:
        if self._owns_client:
            await self._http.aclose()

    # ----------------------------------------------------------------------------- public

    async def request(self, req: Request) -> Reply:
        response = await self._send(req, stream=False)
        return Reply(
            response.status_code,
            response.headers,
            response.content,
            request_id_of(response.headers),
        )

    async def iter_bytes(self, req: Request, chunk_size: int = 64 * 1024) -> AsyncIterator[bytes]:
        response = await self._send(req, stream=True)
        try:
            async for chunk in response.aiter_bytes(chunk_size):
                yield chunk
        finally:
            await response.aclose()

    async def iter_lines(self, req: Request) -> AsyncIterator[str]:
        response = await self._send(req, stream=True)
        try:
            async for line in response.aiter_lines():
                yield line
        finally:
            await response.aclose()

    # ---------------------------------------------------------------------------- the loop

    async def _send(self, req: Request, *, stream: bool) -> httpx.Response:
        key = _new_key() if needs_idempotency_key(req.method) else None
        max_retries = self.config.max_retries if req.max_retries is None else req.max_retries
        upload = UploadBody(req.upload.file) if req.upload is not None else None
        attempt = 0
        while True:
            if upload is not None and attempt:
                upload.rewind()
            built = self._build(req, key, upload)
            started = time.monotonic()
            error: APIError
            try:
                response = await self._http.send(built, stream=True)
            except httpx.TimeoutException as exc:
                error = RequestTimeoutError(f"Request timed out: {exc!r}")
                error.__cause__ = exc
                headers = None
            except httpx.ConnectError as exc:
                error = ConnectionError(f"Could not connect to {address_of(built.url)}: {exc!r}")
                error.__cause__ = exc
                headers = None
            except httpx.TransportError as exc:
                error = ConnectionError(f"Connection to {address_of(built.url)} failed: {exc!r}")
                error.__cause__ = exc
                headers = None
            else:
                status = response.status_code
                elapsed = (time.monotonic() - started) * 1000
                logger.info("%s %s -> %s (%.0f ms)", req.method, built.url, status, elapsed)
                if status < 400 and status not in req.error_statuses:
                    if not stream:
                        await response.aread()
                        await response.aclose()
                    return response
                await response.aread()
                await response.aclose()
                error = error_for_reply(
                    status,
                    response.headers,
                    response.content,
                    path=built.url.path,
                    request_id=request_id_of(response.headers),
                )
                headers = response.headers
                if not policy.status_is_retryable(status, response.headers):
                    raise error
            delay = policy.retry_delay(attempt, max_retries, headers)
            if delay is None or (upload is not None and not upload.rewindable):
                raise error
            logger.info(
                "Retrying %s %s in %.2f s (retry %d of %d) after: %s",
                req.method,
                built.url,
                delay,
                attempt + 1,
                max_retries,
                error,
            )
            await asleep(delay)
            attempt += 1

    def _build(self, req: Request, key: str | None, upload: UploadBody | None) -> httpx.Request:
        headers = self.config.headers(req, key)
        extra: dict[str, Any] = {}
        if req.json is not None:
            extra["json"] = req.json
        elif req.content is not None:
            extra["content"] = req.content
        if req.form is not None:
            extra["data"] = dict(req.form)
        if upload is not None and req.upload is not None:
            extra["files"] = {"file": (req.upload.filename, upload.file, req.upload.content_type)}
        timeout = self._timeout if req.timeout is None else to_httpx_timeout(req.timeout)
        built = self._http.build_request(
            req.method,
            self.config.url(req.path),
            params=_clean_params(req.params),
            headers=headers,
            timeout=timeout,
            **extra,
        )
        if logger.isEnabledFor(10):  # DEBUG
            logger.debug("Request: %s %s headers=%s", req.method, built.url, redact(headers))
        return built


def _clean_params(params: Any) -> dict[str, Any] | None:
    if not params:
        return None
    return {key: value for key, value in params.items() if value is not None}
