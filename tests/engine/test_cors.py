"""CORS (issue 10): off unless the operator names the web origins allowed to call the API.

In open mode the account id is the token and `/accounts` lists the ids, so a reply readable
by any web page would hand it the mailbox. A browser only lets a page read a cross-origin
reply that names its origin in `Access-Control-Allow-Origin`: these tests check what the
engine answers a page's requests and preflights."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from nylas.testing import LocalEngine

APP = "https://app.example"
FOREIGN = "https://evil.example"
CORS_HEADERS = ("access-control-allow-origin", "access-control-allow-credentials")


def cors_headers(response: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.startswith("access-control-")}


def preflight(url: str, origin: str) -> httpx.Response:
    return httpx.options(
        url,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )


def test_open_mode_answers_no_foreign_origin(engine, account):
    """The probe of the issue: a foreign page lists the accounts, then reads one."""
    origin = {"Origin": FOREIGN}
    listed = httpx.get(engine.url + "/accounts", headers=origin)
    assert listed.status_code == 200
    assert cors_headers(listed) == {}
    read = httpx.get(engine.url + "/threads", headers=origin, auth=(account["id"], ""))
    assert read.status_code == 200
    assert cors_headers(read) == {}
    for path in ("/accounts", "/threads"):
        assert cors_headers(preflight(engine.url + path, FOREIGN)) == {}


@pytest.fixture(scope="module")
def listed_engine(tmp_path_factory, new_database) -> Iterator[LocalEngine]:
    env = {"NYLAS_ENGINE_CORS_ORIGINS": f"{APP}/, https://other.example"}
    with LocalEngine(tmp_path_factory.mktemp("cors"), db_url=new_database(), env=env) as started:
        yield started


def test_a_listed_origin_is_echoed_with_credentials(listed_engine):
    account = listed_engine.add_account("cors@example.com")
    response = httpx.get(
        listed_engine.url + "/account", headers={"Origin": APP}, auth=(account["id"], "")
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == APP
    assert response.headers["access-control-allow-credentials"] == "true"
    assert "Origin" in response.headers["vary"]

    allowed = preflight(listed_engine.url + "/account", APP)
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == APP
    assert "Authorization" in allowed.headers["access-control-allow-headers"]


def test_an_unlisted_origin_gets_nothing_where_others_are_listed(listed_engine):
    account = listed_engine.add_account("cors-foreign@example.com")
    response = httpx.get(
        listed_engine.url + "/account", headers={"Origin": FOREIGN}, auth=(account["id"], "")
    )
    assert response.status_code == 200
    assert cors_headers(response) == {}
    refused = preflight(listed_engine.url + "/account", FOREIGN)
    assert cors_headers(refused) == {}
    assert refused.status_code == 405


def test_any_origin_is_never_given_credentials(tmp_path, new_database):
    with LocalEngine(
        tmp_path, auth="token", db_url=new_database(), extra_args=["--cors-origins", "*"]
    ) as started:
        response = httpx.get(started.url + "/account", headers={"Origin": FOREIGN})
        assert response.status_code == 401
        assert response.headers["access-control-allow-origin"] == "*"
        assert "access-control-allow-credentials" not in response.headers
        allowed = preflight(started.url + "/account", FOREIGN)
        assert allowed.headers["access-control-allow-origin"] == "*"
        assert "access-control-allow-credentials" not in allowed.headers


def test_any_origin_is_refused_in_open_mode(tmp_path):
    engine = LocalEngine(tmp_path, extra_args=["--cors-origins", "*"])
    with pytest.raises(RuntimeError, match="refusing CORS origin"):
        engine.start()
    engine.close()
