"""GET /account (docs/protocol.md §5) and the open engine's unauthenticated GET /accounts."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from nylas_engine.api.deps import AccountScope, account_scope, db_session, get_ctx
from nylas_engine.api.errors import not_found
from nylas_engine.api.listing import list_response
from nylas_engine.api.openapi import PAGING, doc, paged, param
from nylas_engine.api.params import Query
from nylas_engine.api.routing import SessionRoute
from nylas_engine.api.schemas import admin as shape
from nylas_engine.api.views.account import account_json
from nylas_engine.context import EngineContext
from nylas_engine.store.accounts import live_accounts
from nylas_engine.store.models import Account

router = APIRouter(route_class=SessionRoute)


@router.get(
    "/account",
    **doc(
        reply=shape.Account, params=[param("view", {"type": "string", "enum": ["", "expanded"]})]
    ),
)
@router.get("/account/", include_in_schema=False)
def get_account(request: Request, scope: AccountScope = Depends(account_scope)) -> Any:
    expanded = Query(request).view(("expanded",)) == "expanded"
    return account_json(scope.account, expanded)


@router.get(
    "/accounts", **doc(404, reply=paged(shape.AppAccount), params=(*PAGING, "email_address"))
)
@router.get("/accounts/", include_in_schema=False)
def list_accounts(
    request: Request, ctx: EngineContext = Depends(get_ctx), session: Any = db_session
) -> Any:
    """Open mode only: the old open-source engine listed its accounts without auth."""
    if ctx.settings.auth_mode != "open":
        raise not_found("The open account list is disabled: use /a/{client_id}/accounts.")
    stmt = live_accounts()
    if email := Query(request).string("email_address"):
        stmt = stmt.where(Account.email_address == email)
    return list_response(request, session, stmt, account_json)


@router.get("/", **doc(reply=dict[str, Any]))
def root() -> Any:
    return {"name": "nylas-engine", "object": "server", "api": "v2"}
