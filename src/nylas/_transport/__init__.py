"""The transport layer: everything about HTTP that is written once for sync and async.

`request.py` describes a call (`Request`) and its result (`Reply`); `config.py` holds a client's
settings and builds URL, headers and auth; `policy.py` decides retries and backoff; `logs.py`
logs with `Authorization` redacted. Only the send/sleep loop lives in `nylas._async.transport`
(and its generated twin `nylas._sync.transport`), the one place that imports httpx.
"""
