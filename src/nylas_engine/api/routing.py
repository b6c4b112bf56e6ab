"""Every route's database work ends inside the worker thread that did it.

FastAPI runs a plain (`def`) route body in a worker thread and then, back on the event loop,
turns its result into JSON and sends it. `SessionRoute` (the route class of every router)
wraps such a body so that, in that same thread, the sessions it was given (an `AccountScope`'s
or `AppScope`'s, or a bare `Session`) are committed when it returns and rolled back when it
raises. So a write is durable before the client can be told about it, and no connection or
SQLite write lock is held while the reply is rendered, while the request waits for another
thread, or while the client reads (the deadlock of issue 10: requests holding connections
waited for threads that were all waiting for connections).

The same thread authenticates the request first, in the same transaction: a plain route's
`Depends(account_scope)` (or `write_scope`) becomes `deferred_account_scope` (or
`deferred_write_scope`), which only reads the credentials on the event loop, and the scope
is authenticated here before the body runs (api/deps.py `AccountScope.authenticate`). So a
read costs one thread hop and one transaction, not two of each.

`async def` routes do their database work in `run_in_transaction` calls for the same reason.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import params
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from nylas_engine.api.deps import (
    AccountScope,
    AppScope,
    account_scope,
    deferred_account_scope,
    deferred_write_scope,
    transaction,
    write_scope,
)
from nylas_engine.api.openapi import operation_id

T = TypeVar("T")


def _session_of(value: Any) -> Session | None:
    if isinstance(value, Session):
        return value
    if isinstance(value, AccountScope | AppScope):
        return value.session
    return None


_DEFERRED: dict[Callable[..., Any], Callable[..., Any]] = {
    account_scope: deferred_account_scope,
    write_scope: deferred_write_scope,
}


def _deferring(signature: inspect.Signature) -> inspect.Signature:
    """`signature` with its account scopes authenticated by the route (see above)."""
    parameters = []
    for parameter in signature.parameters.values():
        default = parameter.default
        if isinstance(default, params.Depends) and default.dependency in _DEFERRED:
            deferred = dataclasses.replace(default, dependency=_DEFERRED[default.dependency])
            parameter = parameter.replace(default=deferred)
        parameters.append(parameter)
    return signature.replace(parameters=parameters)


def _in_transaction(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(endpoint)
    def run(*args: Any, **kwargs: Any) -> Any:
        sessions = {id(s): s for v in kwargs.values() if (s := _session_of(v)) is not None}
        with contextlib.ExitStack() as stack:  # one session per request, in practice
            for session in sessions.values():
                stack.enter_context(transaction(session))
            for value in kwargs.values():
                if isinstance(value, AccountScope):
                    value.authenticate()
            return endpoint(*args, **kwargs)

    # FastAPI reads this signature (annotations evaluated in the endpoint's module).
    run.__signature__ = _deferring(inspect.signature(endpoint, eval_str=True))  # type: ignore[attr-defined]
    return run


class SessionRoute(APIRoute):
    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if kwargs.get("operation_id") is None:  # one id per operation (api/openapi.py)
            kwargs["operation_id"] = operation_id(
                path, kwargs.get("methods") or (), endpoint.__name__
            )
        deferred = not inspect.iscoroutinefunction(endpoint)
        if deferred:
            endpoint = _in_transaction(endpoint)
        super().__init__(path, endpoint, **kwargs)
        # Its account scope is authenticated in the route's thread (see above): a request
        # refused before that is checked by `credentials_error` (api/errors.py).
        self.defers_authentication = deferred and any(
            isinstance(p.default, params.Depends) and p.default.dependency in _DEFERRED.values()
            for p in inspect.signature(endpoint).parameters.values()
        )


async def run_in_transaction(session: Session, fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)` in a worker thread, with `session`'s transaction ended before it returns."""

    def call() -> T:
        with transaction(session):
            return fn(*args)

    return await run_in_threadpool(call)
