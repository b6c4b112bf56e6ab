"""Isolation across every route the engine documents: account B given account A's ids gets
exactly what an unknown id gets (404, or the status docs/protocol.md names for that route), never
A's data, and A's objects stay as they were. App-level routes refuse another app's secret.

The routes come from the live `/openapi.json`, so a new route is covered as soon as it
exists; a new kind of path parameter makes the test fail until it is taught a value."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from mailfactory import Mailbox
from routecheck import (
    PNG,
    SECRET_WORD,
    LogWatch,
    Objects,
    Route,
    ids_in,
    is_app_route,
    json_error_problem,
    populate,
    routes,
    snapshot,
    unfillable,
)

from nylas.testing import LocalEngine
from nylas_engine.ids import new_public_id

ACCOUNT_PARAMS = {
    "thread_id",
    "message_id",
    "draft_id",
    "file_id",
    "folder_id",
    "label_id",
    "calendar_id",
    "event_id",
    "contact_id",
    "job_status_id",
}
APP_PARAMS = {"client_id", "account_id", "webhook_id"}

UNKNOWN = {name: new_public_id() for name in ACCOUNT_PARAMS}

# Where docs/protocol.md names another status than 404 for an id the account does not have.
NOT_404 = {
    "PUT /folders/{folder_id}": 400,  # §11: an unknown id is a 400 on rename
    "PATCH /folders/{folder_id}": 400,
    "PUT /labels/{label_id}": 400,
    "PATCH /labels/{label_id}": 400,
    "DELETE /threads/{thread_id}": 405,  # threads are never deleted (issue 10)
    "DELETE /messages/{message_id}": 405,  # §7: messages are never deleted
}

# A plausible body for each write, so that B's request would succeed on B's own object.
BODIES: dict[str, dict[str, Any]] = {
    "/threads/{thread_id}": {"unread": False, "starred": True},
    "/messages/{message_id}": {"unread": False, "starred": True},
    "/drafts/{draft_id}": {"version": 0, "subject": "Taken over"},
    "/folders/{folder_id}": {"display_name": "Taken over"},
    "/labels/{label_id}": {"display_name": "Taken over"},
    "/calendars/{calendar_id}": {"name": "Taken over"},
    "/events/{event_id}": {"title": "Taken over"},
    "/contacts/{contact_id}": {"given_name": "Taken over"},
    "/v2/outbox/{job_status_id}": {"subject": "Taken over"},
}


@pytest.fixture(scope="module")
def world(engine: Any) -> dict[str, Any]:
    owner = engine.new_account()
    owner_labels = engine.new_account(provider="gmail", organization_unit="label")
    objects = populate(engine, owner, owner_labels)
    intruder = engine.new_account()
    intruder_labels = engine.new_account(provider="gmail", organization_unit="label")
    # The intruder has objects of its own, so lists and searches are not trivially empty.
    _own_objects(engine, intruder, intruder_labels)
    return {
        "objects": objects,
        "owner_labels": owner_labels,
        "intruder": intruder,
        "intruder_labels": intruder_labels,
    }


def _own_objects(engine: Any, account: dict[str, Any], label_account: dict[str, Any]) -> None:
    Mailbox(engine, account).add("Own mail", from_="friend@x.org", body="nothing to see")
    Mailbox(engine, label_account).add("Own labelled mail", from_="friend@x.org")
    with engine.client(account["id"]) as api:
        api.post("/files", files={"file": ("own.txt", b"own")})
        api.post("/drafts", json={"subject": "Own draft"})
        api.post("/folders", json={"display_name": "Own"})
        calendars = api.get("/calendars")
        if calendars.status_code == 200:
            when = {"start_time": 1_700_000_000, "end_time": 1_700_003_600}
            calendar = calendars.json()[0]["id"]
            api.post("/events", json={"calendar_id": calendar, "title": "Own", "when": when})
        api.post("/contacts", json={"given_name": "Own", "emails": [{"email": "me@x.org"}]})
    with engine.client(label_account["id"]) as api:
        api.post("/labels", json={"display_name": "Own"})


def _request(client: httpx.Client, route: Route, url: str) -> httpx.Response:
    if route.path == "/contacts/{contact_id}/picture" and route.method == "PUT":
        return client.request(route.method, url, content=PNG)
    template = route.path
    body = BODIES.get(template) if route.method in ("PUT", "PATCH") else None
    if route.method == "DELETE" and template == "/drafts/{draft_id}":
        body = {"version": 0}
    if body is None and route.method in ("POST", "PUT", "PATCH"):
        body = {}
    return client.request(route.method, url, json=body)


def test_every_route_with_an_id_answers_404_for_the_other_accounts_id(engine, world):
    objects: Objects = world["objects"]
    found = routes(engine)
    missing = unfillable(found, ACCOUNT_PARAMS | APP_PARAMS)
    assert not missing, f"no value for the path parameters of: {missing}"
    with_ids = [r for r in found if r.params and not is_app_route(r)]
    assert len(with_ids) >= 20  # threads, messages, drafts, files, folders, labels at least

    before = snapshot(engine, objects, world["owner_labels"])
    watch = LogWatch(engine)
    wrong = []
    with (
        engine.client(world["intruder"]["id"]) as intruder,
        engine.client(world["intruder_labels"]["id"]) as label_intruder,
    ):
        for route in with_ids:
            client = label_intruder if "{label_id}" in route.path else intruder
            response = _request(client, route, route.url(objects.ids))
            expected = NOT_404.get(str(route), 404)
            problem = json_error_problem(response)
            if response.status_code != expected or problem:
                wrong.append(f"{route}: {response.status_code} {problem or response.text[:200]}")
                continue
            # Word for word what an id that exists nowhere gets.
            unknown = _request(client, route, route.url(UNKNOWN))
            text = unknown.text
            for name, value in UNKNOWN.items():
                text = text.replace(value, objects.ids[name])
            if (unknown.status_code, text) != (response.status_code, response.text):
                wrong.append(f"{route}: {response.text} but for an unknown id {unknown.text}")
            elif SECRET_WORD in response.text:
                wrong.append(f"{route}: the reply shows the owner's data: {response.text[:200]}")
        raw = intruder.get(
            f"/messages/{objects['message_id']}", headers={"Accept": "message/rfc822"}
        )
        if raw.status_code != 404:
            wrong.append(f"GET /messages/{{id}} as message/rfc822: {raw.status_code}")
    assert not wrong, "\n".join(wrong)
    assert snapshot(engine, objects, world["owner_labels"]) == before
    assert watch.tracebacks() == []


def test_the_other_accounts_ids_inside_bodies_are_refused(engine, world):
    objects: Objects = world["objects"]
    before = snapshot(engine, objects, world["owner_labels"])
    intruder_id = world["intruder"]["id"]
    with engine.client(intruder_id) as intruder:
        mine = intruder.get("/messages").json()[0]
        own_thread = mine["thread_id"]
        writes: list[tuple[str, str, dict[str, Any], int]] = [
            ("POST", "/drafts", {"file_ids": [objects["file_id"]]}, 400),
            ("POST", "/drafts", {"file_ids": [objects["attachment_id"]]}, 400),
            ("POST", "/drafts", {"thread_id": objects["thread_id"]}, 400),
            ("POST", "/drafts", {"reply_to_message_id": objects["message_id"]}, 400),
            ("POST", "/send", {"draft_id": objects["draft_id"], "version": 0}, 404),
            ("PUT", f"/messages/{mine['id']}", {"folder_id": objects["folder_id"]}, 400),
            ("PUT", f"/threads/{own_thread}", {"folder_id": objects["folder_id"]}, 400),
        ]
        if "event_id" in objects.ids:
            when = {"start_time": 1_700_000_000, "end_time": 1_700_003_600}
            writes += [
                ("POST", "/events", {"calendar_id": objects["calendar_id"], "when": when}, 404),
                ("POST", "/send-rsvp", {"event_id": objects["event_id"], "status": "yes"}, 404),
            ]
        wrong = []
        for method, path, body, expected in writes:
            response = intruder.request(method, path, json=body)
            if response.status_code != expected or json_error_problem(response):
                wrong.append(f"{method} {path} {body}: {response.status_code} {response.text}")
        assert not wrong, "\n".join(wrong)
        assert intruder.get("/drafts", params={"view": "count"}).json()["count"] == 1

    with engine.client(world["intruder_labels"]["id"]) as label_intruder:
        thread = label_intruder.get("/threads").json()[0]
        moved = label_intruder.put(
            f"/threads/{thread['id']}", json={"label_ids": [objects["label_id"]]}
        )
        assert moved.status_code == 400
        assert json_error_problem(moved) is None
    assert snapshot(engine, objects, world["owner_labels"]) == before


def _list_routes(engine: Any) -> list[Route]:
    """Account-scoped GET collections: no path parameter, not search, delta or auth pages."""
    skip = ("/", "/accounts", "/account", "/openapi.json")
    return [
        r
        for r in routes(engine)
        if r.method == "GET"
        and not r.params
        and r.path not in skip
        and not r.path.startswith(("/oauth", "/connect", "/delta", "/a/"))
        and "/search" not in r.path
    ]


def test_lists_and_filters_never_show_the_other_accounts_objects(engine, world):
    objects: Objects = world["objects"]
    lists = _list_routes(engine)
    assert {"/threads", "/messages", "/drafts", "/files", "/folders"} <= {r.path for r in lists}
    filtered = [
        ("/threads", {"thread_id": objects["thread_id"]}),
        ("/threads", {"in": objects["folder_id"]}),
        ("/threads", {"any_email": "spy@x.com"}),
        ("/threads", {"filename": "plans.txt"}),
        ("/messages", {"thread_id": objects["thread_id"]}),
        ("/messages", {"in": objects["folder_id"]}),
        ("/messages", {"from": "spy@x.com"}),
        ("/drafts", {"thread_id": objects["thread_id"]}),
        ("/files", {"message_id": objects["message_id"]}),
        ("/files", {"filename": "plans.txt"}),
    ]
    if "event_id" in objects.ids:
        filtered += [
            ("/events", {"calendar_id": objects["calendar_id"]}),
            ("/events", {"event_id": objects["event_id"]}),
            ("/events", {"title": "Secret"}),
        ]
    if "contact_id" in objects.ids:
        filtered.append(("/contacts", {"email": "spy@x.com"}))
    leaks = []
    with (
        engine.client(world["intruder"]["id"]) as intruder,
        engine.client(world["intruder_labels"]["id"]) as label_intruder,
    ):
        for route in lists:
            for client, params in itertools.product(
                (intruder, label_intruder), ({}, {"view": "ids"}, {"limit": 1000})
            ):
                response = client.get(route.path, params=params)
                # /folders for a label account (and the reverse) is a 404 by design.
                allowed = (200, 404) if route.path in ("/folders", "/labels") else (200,)
                if response.status_code not in allowed or ids_in(response.text, objects):
                    leaks.append(f"{route.path} {params}: {response.status_code} {response.text}")
        for path, params in filtered:
            response = intruder.get(path, params=params)
            if response.status_code != 200 or response.json() != []:
                leaks.append(f"{path} {params}: {response.status_code} {response.text}")
        for path, params in (
            ("/threads", {"in": objects["label_id"]}),
            ("/messages", {"label_id": objects["label_id"]}),
        ):
            response = label_intruder.get(path, params=params)
            if response.status_code != 200 or response.json() != []:
                leaks.append(f"{path} {params}: {response.status_code} {response.text}")
    assert not leaks, "\n".join(leaks)


def test_search_never_finds_the_other_accounts_words(engine, world):
    objects: Objects = world["objects"]
    with engine.client(objects.account["id"]) as owner:
        found = owner.get("/messages/search", params={"q": SECRET_WORD}).json()
        assert [m["id"] for m in found] == [objects["message_id"]]
    search = [r.path for r in routes(engine) if "/search" in r.path and not r.params]
    assert len(search) >= 4
    with engine.client(world["intruder"]["id"]) as intruder:
        for path in search:
            for q in (SECRET_WORD, "secret", "plans.txt", "spy@x.com"):
                response = intruder.get(path, params={"q": q})
                assert response.status_code == 200, (path, response.text)
                assert response.text.strip() in ("[]", ""), (path, q, response.text)


def test_delta_with_the_other_accounts_cursor_is_400(engine, world):
    objects: Objects = world["objects"]
    with engine.client(objects.account["id"]) as owner:
        cursor = owner.post("/delta/latest_cursor").json()["cursor"]
        assert cursor != "0"
        assert owner.get("/delta", params={"cursor": cursor}).status_code == 200
        first = owner.get("/delta", params={"cursor": "0", "limit": 1}).json()["cursor_end"]
    with engine.client(world["intruder"]["id"]) as intruder:
        for path, extra in (
            ("/delta", {}),
            ("/delta/longpoll", {"timeout": "1"}),
            ("/delta/streaming", {"timeout": "1"}),
        ):
            for theirs in (cursor, first):
                response = intruder.get(path, params={"cursor": theirs, **extra})
                assert response.status_code == 400, (path, response.text)
                assert response.json()["message"] == "Invalid cursor parameter"
        # Its own log from the start holds none of the owner's objects.
        page = intruder.get("/delta", params={"cursor": "0", "limit": 1000})
        assert page.status_code == 200
        assert ids_in(page.text, objects) == []


# ------------------------------------------------------------------------ app-level routes


@pytest.fixture(scope="module")
def token_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalEngine]:
    with LocalEngine(tmp_path_factory.mktemp("isolation-apps"), auth="token") as engine:
        yield engine


def _app(engine: LocalEngine, name: str) -> dict[str, Any]:
    app = engine.create_app(name, redirect_uri="http://127.0.0.1:9/cb")
    account = engine.add_account(f"{name.lower()}@example.com")
    token = engine.cli("tokens", "create", account["id"], "--app", app["client_id"]).strip()
    with httpx.Client(base_url=engine.url, auth=(app["client_secret"], ""), timeout=30) as c:
        webhook = c.post(
            f"/a/{app['client_id']}/webhooks",
            json={"callback_url": "http://127.0.0.1:9/hook", "triggers": ["message.created"]},
        )
        assert webhook.status_code == 200, webhook.text
    return {
        **app,
        "account_id": account["id"],
        "token": token,
        "webhook_id": webhook.json()["id"],
    }


def test_app_routes_refuse_another_apps_credentials(token_engine):
    mine, theirs = _app(token_engine, "Mine"), _app(token_engine, "Theirs")
    app_routes = [r for r in routes(token_engine) if is_app_route(r)]
    assert len(app_routes) >= 15
    missing = unfillable(app_routes, APP_PARAMS)
    assert not missing, f"no value for the path parameters of: {missing}"
    before = _app_state(token_engine, mine)

    wrong = []
    credentials = {
        "their secret": httpx.BasicAuth(theirs["client_secret"], ""),
        "their id:secret": httpx.BasicAuth(theirs["client_id"], theirs["client_secret"]),
        "my id:their secret": httpx.BasicAuth(mine["client_id"], theirs["client_secret"]),
        "their token": None,
    }
    with httpx.Client(base_url=token_engine.url, timeout=30) as client:
        for route in app_routes:
            url = route.url(mine)
            body = {} if route.method in ("POST", "PUT") else None
            for label, auth in credentials.items():
                headers = {"Authorization": f"Bearer {theirs['token']}"} if auth is None else {}
                response = client.request(route.method, url, json=body, auth=auth, headers=headers)
                if response.status_code != 401 or json_error_problem(response):
                    wrong.append(f"{route} with {label}: {response.status_code} {response.text}")
        # Their own secret on their own client id, with my account and webhook ids: 404.
        for route in app_routes:
            if not ({"account_id", "webhook_id"} & set(route.params)):
                continue
            url = route.url({**mine, "client_id": theirs["client_id"]})
            body = {} if route.method in ("POST", "PUT") else None
            if route.path.endswith("token-info"):
                body = {"access_token": mine["token"]}
            response = client.request(
                route.method, url, json=body, auth=(theirs["client_secret"], "")
            )
            if response.status_code != 404 or json_error_problem(response):
                wrong.append(f"{route} as the other app: {response.status_code} {response.text}")
    assert not wrong, "\n".join(wrong)
    assert _app_state(token_engine, mine) == before


def _app_state(engine: LocalEngine, app: dict[str, Any]) -> list[Any]:
    base = f"/a/{app['client_id']}"
    with httpx.Client(base_url=engine.url, auth=(app["client_secret"], ""), timeout=30) as c:
        state = [c.get(path).json() for path in (base, f"{base}/accounts", f"{base}/webhooks")]
        info = c.post(
            f"{base}/accounts/{app['account_id']}/token-info", json={"access_token": app["token"]}
        )
        state.append(info.json())
    with httpx.Client(base_url=engine.url, auth=(app["token"], ""), timeout=30) as c:
        state.append(c.get("/account").status_code)
    return state
