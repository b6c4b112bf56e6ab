"""client.account / client.accounts against the live engine (seed README 1.4, 1.17, 1.18)."""

from __future__ import annotations

from typing import Any

import pytest

from nylas import APIClient, AsyncAPIClient
from nylas.client.errors import NotAuthorizedError


def test_account_is_read_from_the_server(client: APIClient, account: dict[str, Any]) -> None:
    me = client.account
    assert me.id == account["id"]
    assert me.email_address == account["email_address"]
    assert me.provider
    assert me.sync_status == me.sync_state  # the seed README's name
    assert me.trial_expires == me.trial


def test_misspelt_attribute_raises(client: APIClient) -> None:
    me = client.account
    with pytest.raises(AttributeError):
        _ = me.email_adress  # type: ignore[attr-defined]


def test_unknown_token_is_not_authorized(engine: Any) -> None:
    with (
        APIClient(None, None, "nosuchaccount", engine.url) as c,
        pytest.raises(NotAuthorizedError) as info,
    ):
        _ = c.account
    assert info.value.status_code == 401
    assert info.value.message


def test_open_engine_accounts(engine: Any, account: dict[str, Any]) -> None:
    # Seed 1.18: no credentials at all lists the open engine's accounts.
    with APIClient(None, None, None, engine.url.rstrip("/") + "/") as c:
        ids = [a.id for a in c.accounts.all()]
        assert account["id"] in ids
        found = c.accounts.where(email_address=account["email_address"]).first()
        assert found is not None and found.id == account["id"]


def test_accounts_status_listing(engine: Any, account: dict[str, Any]) -> None:
    # Seed 1.17, with the aliases answering instead of reading None.
    with APIClient(None, None, None, engine.url) as c:
        rows = [
            (acc.sync_status, acc.account_id, acc.trial, acc.trial_expires)
            for acc in c.accounts.all()
        ]
    mine = [row for row in rows if row[1] == account["id"]]
    assert mine and mine[0][0] == "running" and mine[0][2] is False


@pytest.mark.anyio
async def test_async_account(aclient: AsyncAPIClient, account: dict[str, Any]) -> None:
    me = await aclient.account
    assert me.email_address == account["email_address"]
