"""GET /account (docs/protocol.md §5) and the open engine's unauthenticated GET /accounts."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from nylas_engine.api.deps import AccountScope, account_scope, db_session, get_ctx
from nylas_engine.api.errors import not_found
from nylas_engine.api.listing import list_response
from nylas_engine.api.openapi import doc, paged
from nylas_engine.api.query import ExpandedQuery, OpenAccountsQuery
from nylas_engine.api.routing import SessionRoute
from nylas_engine.api.schemas import admin as shape
from nylas_engine.api.views.account import account_json
from nylas_engine.context import EngineContext
from nylas_engine.store.accounts import live_accounts
from nylas_engine.store.models import Account

router = APIRouter(route_class=SessionRoute)


@router.get("/account", **doc(reply=shape.Account))
@router.get("/account/", include_in_schema=False)
def get_account(
    params: Annotated[ExpandedQuery, Query()], scope: AccountScope = Depends(account_scope)
) -> Any:
    return account_json(scope.account, params.view == "expanded")


@router.get("/accounts", **doc(404, reply=paged(shape.AppAccount)))
@router.get("/accounts/", include_in_schema=False)
def list_accounts(
    params: Annotated[OpenAccountsQuery, Query()],
    ctx: EngineContext = Depends(get_ctx),
    session: Any = db_session,
) -> Any:
    """Open mode only: the old open-source engine listed its accounts without auth."""
    if ctx.settings.auth_mode != "open":
        raise not_found("The open account list is disabled: use /a/{client_id}/accounts.")
    stmt = live_accounts()
    if params.email_address:
        stmt = stmt.where(Account.email_address == params.email_address)
    return list_response(params, session, stmt, account_json)


@router.get("/", **doc(reply=dict[str, Any]))
def root() -> Any:
    return {"name": "nylas-engine", "object": "server", "api": "v2"}
