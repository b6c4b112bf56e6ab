"""Bad input on every route the engine documents never gives a 5xx or a hang: malformed or
non-object JSON, wrong field types, bad query values, bad ids, bad cursors, bad `when`
objects and oversized bodies all get the 4xx JSON error of docs/protocol.md §2, and the engine logs
no traceback for any of them.

Routes come from the live `/openapi.json`. Each write gets fresh objects to work on, so a
request that succeeds (a DELETE that takes no body) cannot hide what the next one does."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pytest
from mailfactory import Mailbox
from routecheck import (
    PNG,
    WRITE_METHODS,
    LogWatch,
    Route,
    chunks,
    is_app_route,
    json_error_problem,
    routes,
    unfillable,
)
from smtp_listener import SmtpListener

from nylas.testing import LocalEngine
from nylas_engine.config import MAX_JSON_BYTES
from nylas_engine.ids import new_public_id

# Routes that read no JSON body: for them a bad body may be ignored (and the request succeed).
BODYLESS = {
    "DELETE /threads/{thread_id}",
    "DELETE /messages/{message_id}",
    "DELETE /files/{file_id}",
    "DELETE /folders/{folder_id}",
    "DELETE /labels/{label_id}",
    "DELETE /calendars/{calendar_id}",
    "DELETE /events/{event_id}",
    "DELETE /contacts/{contact_id}",
    "DELETE /contacts/{contact_id}/picture",
    "PUT /contacts/{contact_id}/picture",  # the body is an image: a bad one is a 400 anyway
    "DELETE /v2/outbox/{job_status_id}",
    "POST /files",  # multipart: anything else is a 400 anyway
    "POST /delta/latest_cursor",
    "POST /oauth/revoke",
    "DELETE /a/{client_id}/accounts/{account_id}",
    "POST /a/{client_id}/accounts/{account_id}/downgrade",
    "POST /a/{client_id}/accounts/{account_id}/upgrade",
    "DELETE /a/{client_id}/webhooks/{webhook_id}",
}
# Browser pages (the OAuth login form): HTML errors, not JSON ones.
HTML_PAGES = {"GET /oauth/authorize", "POST /oauth/authorize"}
# docs/protocol.md names these answers whatever the id or body.
FIXED_STATUS = {"DELETE /threads/{thread_id}": 405, "DELETE /messages/{message_id}": 405}

HUGE = "x" * 1_000_000
# Python's json reads these as float('nan'), float('inf') and -inf.
NAN, INF = float("nan"), float("inf")

# Wrong values for each kind of field: every one of them must be refused with a 4xx.
BAD = {
    "bool": ["yes", 2, [], {"a": 1}, HUGE],
    "str": [123, 1.5, [], ["a"], {"a": 1}, True],
    "int": ["abc", "", 1.5, NAN, INF, -INF, [], {"a": 1}, True],
    "id": [123, [], {"a": 1}, True, "bad id!", "x" * 300, "ünï", "a.b"],
    "ids": ["abc", 123, {"a": 1}, [1], [[]], [None], ["bad id!"], [{"id": "x"}]],
    "strs": ["abc", 123, {"a": 1}, [1], [[]], [None], [{"a": 1}]],
    "dict": ["abc", 123, [], [{"a": 1}], True],
    "participants": [
        "a@example.com",
        5,
        {"email": "a@example.com"},
        [1],
        ["a@example.com"],
        [[]],
        [{"email": 5}],
        [{"name": "No address"}],
        [{"email": "a@example.com", "name": 5}],
        [{"email": ["a@example.com"]}],
    ],
    "when": [
        "tomorrow",
        5,
        [],
        {},
        {"object": "time"},
        {"time": "noon"},
        {"time": INF},
        {"time": NAN},
        {"time": 10**30},
        {"time": -(10**30)},
        {"time": True},
        {"time": [1]},
        {"start_time": 10, "end_time": 5},
        {"start_time": "a", "end_time": "b"},
        {"start_time": 10},
        {"date": 5},
        {"date": "2020-13-45"},
        {"date": "31/12/2020"},
        {"date": "99999-01-01"},
        {"start_date": "2020-01-02", "end_date": "2020-01-01"},
        {"start_date": "2020-01-02", "end_date": 7},
        {"time": 1, "date": "2020-01-01"},
        {"time": 1, "timezone": "Not/AZone"},
        {"time": 1, "timezone": 5},
        {"start_time": 1, "end_time": 2, "start_timezone": "Mars/Olympus"},
    ],
    "event_participants": [
        "a@example.com",
        [1],
        [{"email": 5}],
        [{"email": "not an address"}],
        [{"email": "a@example.com", "status": "perhaps"}],
        [{"email": "a@example.com", "status": 5}],
        [{"email": "a@example.com", "name": 5}],
        [{"name": "No address"}],
    ],
    "typed_list": [
        "abc",
        5,
        {"a": 1},
        [1],
        ["abc"],
        [[]],
        [{"type": 5}],
        [{"email": 5}],
        [{"number": ["1"]}],
    ],
    "addresses": ["abc", 5, {"a": 1}, [1], ["abc"], [[]], [{"city": 5}], [{"state": ["x"]}]],
    "date": ["notadate", 5, "2020-02-30", "2020-13-01", [], {"a": 1}, "99999-01-01"],
    "rsvp_status": ["perhaps", 5, [], None, ""],
    "state": ["maybe", 5, [], None],
    "timezone": ["Not/AZone", 5, [], "../../etc/passwd"],
}

DRAFT = {
    "to": "participants",
    "cc": "participants",
    "bcc": "participants",
    "from": "participants",
    "reply_to": "participants",
    "subject": "str",
    "body": "str",
    "file_ids": "ids",
    "thread_id": "id",
    "reply_to_message_id": "id",
}
EVENT = {
    "when": "when",
    "title": "str",
    "description": "str",
    "location": "str",
    "busy": "bool",
    "participants": "event_participants",
}
CONTACT = {
    "given_name": "str",
    "surname": "str",
    "notes": "str",
    "birthday": "date",
    "emails": "typed_list",
    "phone_numbers": "typed_list",
    "web_pages": "typed_list",
    "im_addresses": "typed_list",
    "physical_addresses": "addresses",
}
CALENDAR = {"name": "str", "description": "str", "location": "str", "timezone": "timezone"}
OUTBOX = {**DRAFT, "send_at": "int", "retry_limit_datetime": "int"}
LATER = 4102444800  # 2100: a scheduled message these tests make is never due
# The typed fields of each write route (the others are ignored by design, docs/protocol.md §8, §12).
FIELDS: dict[str, dict[str, str]] = {
    "PUT /threads/{thread_id}": {"unread": "bool", "starred": "bool", "folder_id": "id"},
    "PUT /messages/{message_id}": {"unread": "bool", "starred": "bool", "folder_id": "id"},
    "POST /drafts": DRAFT,
    # thread_id and reply_to_message_id are fixed when a draft is created (§8): ignored here.
    "PUT /drafts/{draft_id}": {
        **{k: v for k, v in DRAFT.items() if k not in ("thread_id", "reply_to_message_id")},
        "version": "int",
    },
    "DELETE /drafts/{draft_id}": {"version": "int"},
    "POST /send": {**DRAFT, "draft_id": "id"},
    "POST /folders": {"display_name": "str"},
    "PUT /folders/{folder_id}": {"display_name": "str"},
    "POST /labels": {"display_name": "str"},
    "PUT /labels/{label_id}": {"display_name": "str"},
    "POST /calendars": CALENDAR,
    "PUT /calendars/{calendar_id}": CALENDAR,
    "POST /events": {**EVENT, "calendar_id": "id"},
    "PUT /events/{event_id}": EVENT,
    "POST /send-rsvp": {"event_id": "id", "status": "rsvp_status", "comment": "str"},
    "POST /v2/outbox": OUTBOX,
    "PATCH /v2/outbox/{job_status_id}": OUTBOX,
    "POST /contacts": CONTACT,
    "PUT /contacts/{contact_id}": CONTACT,
    "POST /delta/generate_cursor": {"start": "int"},
    "PUT /a/{client_id}": {"application_name": "str", "icon_url": "str", "redirect_uris": "strs"},
    "PUT /a/{client_id}/accounts/{account_id}": {"metadata": "dict"},
    "POST /a/{client_id}/accounts/{account_id}/revoke-all": {"keep_access_token": "str"},
    "POST /a/{client_id}/accounts/{account_id}/token-info": {"access_token": "str"},
    "POST /a/{client_id}/webhooks": {"callback_url": "str", "triggers": "strs", "state": "state"},
    "PUT /a/{client_id}/webhooks/{webhook_id}": {"state": "state"},
    "POST /connect/authorize": {
        "client_id": "str",
        "email_address": "str",
        "provider": "str",
        "settings": "dict",
    },
    "POST /connect/token": {"client_id": "str", "client_secret": "str", "code": "str"},
    "POST /oauth/token": {"client_id": "str", "client_secret": "str", "code": "str"},
}
FIELDS.update({k.replace("PUT ", "PATCH ", 1): v for k, v in FIELDS.items() if "PUT " in k})


# ------------------------------------------------------------------------------ fixtures


class ReportingTransport(httpx.HTTPTransport):
    """A dropped connection becomes a reply with status 599, so the test reports which
    request it was instead of stopping at the first one."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return super().handle_request(request)
        except httpx.TransportError:
            pass
        try:  # once more: the engine may have closed a kept-alive connection
            return super().handle_request(request)
        except httpx.TransportError as exc:
            return httpx.Response(599, text=f"connection failed: {exc!r}", request=request)


def _client(engine: Any, secret: str) -> httpx.Client:
    return httpx.Client(
        base_url=engine.url, auth=(secret, ""), timeout=30, transport=ReportingTransport()
    )


class Target:
    """Fresh objects to aim requests at, and clients authorised for them."""

    def __init__(self, engine: Any, app: dict[str, Any]) -> None:
        self.engine = engine
        self.app = app
        self.folders = engine.new_account()
        self.labels = engine.new_account(provider="gmail", organization_unit="label")
        self.api = _client(engine, self.folders["id"])
        self.label_api = _client(engine, self.labels["id"])
        self.app_api = _client(engine, app["client_secret"])
        self.calendar = self.api.get("/calendars").json()[0]["id"]

    def close(self) -> None:
        for client in (self.api, self.label_api, self.app_api):
            client.close()

    def client(self, route: Route) -> httpx.Client:
        if is_app_route(route):
            return self.app_api
        return self.label_api if "label" in route.path else self.api

    def fresh(self, name: str) -> str:
        """A new object for the path parameter `name`."""
        make: dict[str, Callable[[], str]] = {
            "thread_id": lambda: self._message()["thread_id"],
            "message_id": lambda: self._message()["id"],
            "draft_id": lambda: self._post("/drafts", {"subject": "Draft"}),
            "file_id": lambda: self.api.post("/files", files={"file": ("f.txt", b"f")}).json()[0][
                "id"
            ],
            "folder_id": lambda: self._post("/folders", {"display_name": new_public_id()}),
            "label_id": lambda: self._post(
                "/labels", {"display_name": new_public_id()}, self.label_api
            ),
            "calendar_id": lambda: self._post("/calendars", {"name": "Calendar"}),
            "event_id": lambda: self._post("/events", self.event_body()),
            "contact_id": lambda: self._post("/contacts", {"given_name": "Contact"}),
            "job_status_id": lambda: self.api.post(
                "/v2/outbox", json={"to": [{"email": "a@example.com"}], "send_at": LATER}
            ).json()["job_status_id"],
            "client_id": lambda: str(self.app["client_id"]),
            "account_id": lambda: str(self.app["account_id"]),
            "webhook_id": lambda: self._post(
                f"/a/{self.app['client_id']}/webhooks",
                {"callback_url": "http://127.0.0.1:9/hook", "triggers": ["message.created"]},
                self.app_api,
            ),
        }
        return make[name]()

    def fill(self, route: Route) -> str:
        return route.url({name: self.fresh(name) for name in route.params})

    def event_body(self) -> dict[str, Any]:
        return {
            "calendar_id": self.calendar,
            "title": "Event",
            "when": {"start_time": 1_700_000_000, "end_time": 1_700_003_600},
        }

    def _message(self) -> dict[str, Any]:
        return Mailbox(self.engine, self.folders).add("Hello", from_="a@example.org")

    def _post(self, path: str, body: dict[str, Any], client: httpx.Client | None = None) -> str:
        response = (client or self.api).post(path, json=body)
        assert response.status_code == 200, (path, response.text)
        return str(response.json()["id"])


def _target(engine: Any) -> Iterator[Target]:
    app = engine.create_app("Bad input", redirect_uri="http://127.0.0.1:9/cb")
    account = engine.new_account()
    engine.cli("tokens", "create", account["id"], "--app", app["client_id"])
    target = Target(engine, {**app, "account_id": account["id"]})
    yield target
    target.close()


@pytest.fixture
def target(engine: Any) -> Iterator[Target]:
    yield from _target(engine)


@pytest.fixture(scope="module")
def shared_target(engine: Any) -> Iterator[Target]:
    """One target for the many small cases below, which each check their own objects."""
    yield from _target(engine)


@pytest.fixture(scope="module")
def all_routes(engine: Any) -> list[Route]:
    found = routes(engine)
    missing = unfillable(found, _PARAMS)
    assert not missing, f"no value for the path parameters of: {missing}"
    return found


_PARAMS = {
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
    "client_id",
    "account_id",
    "webhook_id",
}


class Problems:
    """Collects every wrong answer, so one run lists them all; and watches the log."""

    def __init__(self, engine: Any) -> None:
        self.found: list[str] = []
        self.log = LogWatch(engine)

    def check(
        self, what: str, response: httpx.Response, allowed: Callable[[int], bool] | None = None
    ) -> None:
        status = response.status_code
        ok = allowed(status) if allowed else 400 <= status < 500
        if not ok:
            self.found.append(f"{what}: {status} {response.text[:160]}")
        elif status >= 400 and (problem := json_error_problem(response)):
            self.found.append(f"{what}: {status} {problem}")

    def assert_none(self) -> None:
        assert not self.found, f"{len(self.found)} wrong answers:\n" + "\n".join(self.found)
        assert self.log.tracebacks() == []


@pytest.fixture
def problems(engine: Any) -> Problems:
    return Problems(engine)


def send_json(client: httpx.Client, method: str, url: str, body: Any) -> httpx.Response:
    """`body` as JSON, including the NaN and Infinity that Python's json writes and reads."""
    data = json.dumps(body).encode()
    return client.request(method, url, content=data, headers={"Content-Type": "application/json"})


def four_xx(status: int) -> bool:
    return 400 <= status < 500


def below_500(status: int) -> bool:
    return status < 500


def _writes(found: list[Route]) -> list[Route]:
    return [r for r in found if r.method in WRITE_METHODS]


def _expected(route: Route) -> Callable[[int], bool]:
    fixed = FIXED_STATUS.get(str(route))
    if fixed:
        return lambda status: status == fixed
    return below_500 if str(route) in BODYLESS else four_xx


def _deep(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


# --------------------------------------------------------------------------------- bodies


MALFORMED = {
    "malformed JSON": b"{not json",
    "truncated JSON": b'{"subject": "x"',
    "a JSON array": b"[1, 2]",
    "a JSON string": b'"text"',
    "a JSON number": b"42",
    "JSON null": b"null",
    "invalid UTF-8": b'{"subject": "\xff\xfe"}',
    "deeply nested JSON": b"[" * 100_000 + b"]" * 100_000,
    "deeply nested objects": _deep(50_000),
    "NUL bytes": b'{"subject": "a\x00b"}\x00',
}


# The slowest checks run in shards (one test per shard) so that parallel workers share them.
SHARDS = 4


def _shard(found: list[Route], shard: int) -> list[Route]:
    return found[shard::SHARDS]


@pytest.mark.parametrize("shard", range(SHARDS))
def test_malformed_and_non_object_bodies_are_400(all_routes, target, problems, shard):
    for route in _shard(_writes(all_routes), shard):
        if str(route) in HTML_PAGES:
            continue
        for what, body in MALFORMED.items():
            client = target.client(route)
            url = target.fill(route)
            response = client.request(
                route.method, url, content=body, headers={"Content-Type": "application/json"}
            )
            allowed = _expected(route)
            if what == "NUL bytes" and str(route) not in BODYLESS:
                allowed = below_500  # a NUL inside a JSON string is valid JSON
            problems.check(f"{route} with {what}", response, allowed)
    problems.assert_none()


def _base_body(route: Route, target: Target) -> dict[str, Any]:
    """A body that would be accepted, so that one wrong field is the only fault."""
    key = str(route).replace("PATCH ", "PUT ", 1)
    if key == "PUT /drafts/{draft_id}" or key == "DELETE /drafts/{draft_id}":
        return {"version": 0}
    if key == "POST /events":
        return target.event_body()
    if key == "POST /send-rsvp":
        return {"event_id": target.fresh("event_id"), "status": "yes"}
    if key == "POST /calendars":
        return {"name": "Calendar"}
    if key == "POST /v2/outbox":
        return {"to": [{"email": "a@example.com"}], "send_at": LATER}
    if key == "POST /a/{client_id}/webhooks":
        return {"callback_url": "http://127.0.0.1:9/hook", "triggers": ["message.created"]}
    if key == "POST /connect/authorize":
        return {
            "client_id": target.app["client_id"],
            "email_address": "bad-input@example.com",
            "settings": {"imap_host": "127.0.0.1", "imap_port": 9, "imap_password": "pw"},
        }
    return {}


@pytest.mark.parametrize("shard", range(SHARDS))
def test_wrong_field_types_are_4xx(all_routes, target, problems, shard):
    for route in _shard(_writes(all_routes), shard):
        fields = FIELDS.get(str(route), {})
        for name, kind in fields.items():
            for value in BAD[kind]:
                body = {**_base_body(route, target), name: value}
                url = target.fill(route)
                response = send_json(target.client(route), route.method, url, body)
                shown = json.dumps(value)[:60]
                problems.check(f"{route} with {name}={shown}", response)
    problems.assert_none()


@pytest.mark.parametrize("shard", range(SHARDS))
def test_nulls_huge_strings_and_odd_values_never_give_5xx(all_routes, target, problems, shard):
    odd: list[Any] = [None, HUGE, "", -1, 2**70, {"nested": [HUGE]}]
    for route in _shard(_writes(all_routes), shard):
        if str(route) in HTML_PAGES or route.path == "/send":
            continue  # /send with a valid body would really send (no SMTP here: a 400)
        fixed = FIXED_STATUS.get(str(route))
        allowed = (lambda status, fixed=fixed: status == fixed) if fixed else below_500
        if route.path == "/connect/authorize":
            # Acceptable input connects to the (closed) IMAP port given: 503 is the answer.
            allowed = lambda status: status < 500 or status == 503  # noqa: E731
        for name in FIELDS.get(str(route), {}) or {"anything": "str"}:
            for value in odd:
                body = {**_base_body(route, target), name: value}
                url = target.fill(route)
                response = send_json(target.client(route), route.method, url, body)
                shown = json.dumps(value)[:40]
                problems.check(f"{route} with {name}={shown}", response, allowed)
    problems.assert_none()


def test_bad_when_objects_are_400(target, problems, all_routes):
    if not any(r.path == "/events" and r.method == "POST" for r in all_routes):
        pytest.fail("POST /events is not served")
    for when in BAD["when"]:
        created = send_json(target.api, "POST", "/events", {**target.event_body(), "when": when})
        problems.check(f"POST /events when={json.dumps(when)}", created, lambda s: s == 400)
        event = target.fresh("event_id")
        updated = send_json(target.api, "PUT", f"/events/{event}", {"when": when})
        problems.check(f"PUT /events when={json.dumps(when)}", updated, lambda s: s == 400)
    missing = target.api.post("/events", json={"calendar_id": target.calendar})
    problems.check("POST /events without when", missing, lambda s: s == 400)
    problems.assert_none()


# ---------------------------------------------------------------------------------- query


BAD_PAGES = [
    {"limit": "abc"},
    {"limit": "-1"},
    {"limit": "1001"},
    {"limit": "1e3"},
    {"limit": "1.5"},
    {"limit": "99999999999999999999999"},
    {"offset": "abc"},
    {"offset": "-5"},
    {"offset": "0x10"},
]
HUGE_NUMBERS = ["99999999999999999999999", "-99999999999999999999999", "1e400", "inf", "-inf"]
BAD_TIMESTAMPS = ["notadate", "2020-13-45", "12:00", "nan", "", "1e", "--1"]
# Parameters of list routes that must be booleans, timestamps, ids or address lists.
TYPED_QUERY = {
    "/threads": {
        "bool": ["unread", "starred"],
        "timestamp": ["started_before", "started_after", "last_message_before"],
        "id": ["thread_id"],
    },
    "/messages": {
        "bool": ["unread", "starred"],
        "timestamp": ["received_before", "received_after", "last_message_after"],
        "id": ["thread_id"],
    },
    "/drafts": {"bool": ["unread"], "timestamp": ["received_before"], "id": ["thread_id"]},
    "/files": {"id": ["message_id"]},
    "/events": {
        "bool": ["busy", "expand_recurring", "show_cancelled"],
        "timestamp": ["starts_before", "starts_after", "ends_before", "ends_after"],
        "id": ["event_id", "calendar_id"],
    },
}
BAD_QUERY_VALUES = {
    "bool": ["maybe", "yes", "2", "", "truee"],
    "timestamp": BAD_TIMESTAMPS,
    "id": ["bad!id", "x" * 300, "ünï", "a.b", "' OR 1=1 --"],
}


def _lists(found: list[Route]) -> list[Route]:
    return [
        r
        for r in found
        if r.method == "GET"
        and not r.params
        and r.path not in ("/", "/account", "/oauth/authorize", "/oauth/token")
        and not r.path.startswith("/delta")
        and r.path != "/contacts/groups"
    ]


@pytest.mark.parametrize("shard", range(SHARDS))
def test_list_routes_refuse_bad_paging_and_typed_filters(all_routes, target, problems, shard):
    lists = _lists(all_routes)
    assert {"/threads", "/messages", "/files", "/folders"} <= {r.path for r in lists}
    for route in _shard(lists, shard):
        client = target.client(route)
        url = target.fill(route)
        base = {"q": "hello"} if "/search" in route.path else {}
        # The streaming searches send every match, a batch per line: paging means nothing there.
        paged = (lambda s: s == 400) if "streaming" not in route.path else below_500
        for params in BAD_PAGES:
            response = client.get(url, params={**base, **params})
            problems.check(f"GET {route.path} {params}", response, paged)
        for view in ("bogus", "COUNT", HUGE[:300]):
            response = client.get(url, params={**base, "view": view})
            problems.check(f"GET {route.path} view={view[:20]}", response, below_500)
        response = client.get(url, params={**base, "offset": "99999999999999999999999"})
        problems.check(f"GET {route.path} huge offset", response, below_500)
        for kind, names in TYPED_QUERY.get(route.path, {}).items():
            for name in names:
                for value in BAD_QUERY_VALUES[kind]:
                    if value == "" and kind == "timestamp":
                        continue  # an empty value means "not given"
                    response = client.get(url, params={name: value})
                    problems.check(f"GET {route.path} {name}={value[:20]}", response)
                if kind == "timestamp":
                    for value in HUGE_NUMBERS + ["0001-01-01T00:00:00+14:00"]:
                        response = client.get(url, params={name: value})
                        problems.check(f"GET {route.path} {name}={value}", response, below_500)
    problems.assert_none()


def test_string_filters_and_address_lists_are_checked(target, problems):
    for path in ("/threads", "/messages", "/drafts"):
        for params in (
            {"subject": "x" * 256},
            {"any_email": ",".join(f"u{i}@example.com" for i in range(26))},
            {"any_email": "not an address"},
            {"in": "x" * 300},
        ):
            response = target.api.get(path, params=params)
            problems.check(f"GET {path} {list(params)}", response, lambda s: s == 400)
    for params in ({"q": ""}, {}, {"q": "x" * 256}):
        for path in ("/threads/search", "/messages/search", "/messages/search/streaming"):
            response = target.api.get(path, params=params)
            problems.check(f"GET {path} {params}"[:80], response, lambda s: s == 400)
    problems.assert_none()


# ------------------------------------------------------------------------------------ ids


BAD_IDS = ["bad!id", "a.b", "a-b_c", "x" * 300, "ünï", "%27%3B", "%00", "a%20b"]


@pytest.mark.parametrize("shard", range(SHARDS))
def test_bad_and_unknown_ids_in_paths(all_routes, target, problems, shard):
    with_ids = [r for r in all_routes if r.params and str(r) not in HTML_PAGES]
    for route in _shard(with_ids, shard):
        client = target.client(route)
        fixed = FIXED_STATUS.get(str(route))
        for param in route.params:
            for bad in BAD_IDS:
                values = {name: target.fresh(name) for name in route.params}
                values[param] = bad if "%" in bad else quote(bad, safe="")
                body = _probe_body(route)
                response = client.request(route.method, route.url(values), **body)
                if fixed:
                    expected = fixed
                elif param == "client_id":
                    expected = 401  # no app has that id, so the secret cannot match
                else:
                    expected = 400
                problems.check(
                    f"{route} {param}={bad[:20]}", response, lambda s, e=expected: s == e
                )
            values = {name: target.fresh(name) for name in route.params}
            values[param] = new_public_id()
            response = client.request(route.method, route.url(values), **_probe_body(route))
            expected = fixed or (401 if param == "client_id" else 404)
            if str(route).replace("PATCH ", "PUT ") in (
                "PUT /folders/{folder_id}",
                "PUT /labels/{label_id}",
            ):
                expected = 400  # docs/protocol.md §11: renaming an unknown category is a 400
            problems.check(f"{route} unknown {param}", response, lambda s, e=expected: s == e)
    problems.assert_none()


def _probe_body(route: Route) -> dict[str, Any]:
    if route.path == "/contacts/{contact_id}/picture" and route.method == "PUT":
        return {"content": PNG}
    if route.path.endswith("/token-info"):
        return {"json": {"access_token": "not-a-token"}}
    if route.path == "/drafts/{draft_id}" and route.method in ("PUT", "PATCH", "DELETE"):
        return {"json": {"version": 0}}
    return {"json": {}} if route.method in ("POST", "PUT", "PATCH") else {}


# -------------------------------------------------------------------------------- cursors


def test_bad_cursors_and_timeouts_are_400(target, problems):
    cursors = ["", "bad!cursor", "x" * 300, new_public_id(), "ünï", "0 OR 1=1"]
    for path in ("/delta", "/delta/longpoll", "/delta/streaming"):
        response = target.api.get(path)
        problems.check(f"GET {path} without a cursor", response, lambda s: s == 400)
        for cursor in cursors:
            response = target.api.get(path, params={"cursor": cursor, "timeout": "1"})
            problems.check(f"GET {path} cursor={cursor[:20]}", response, lambda s: s == 400)
        for params in (
            {"include_types": "message,bogus"},
            {"exclude_types": "nothing"},
            {"include_types": "message", "exclude_types": "thread"},
            {"exclude_folders": "maybe"},
            {"view": "bogus"},
        ):
            response = target.api.get(path, params={"cursor": "0", "timeout": "1", **params})
            problems.check(f"GET {path} {params}", response, lambda s: s == 400)
    for timeout in ("abc", "-1", "nan", ""):
        response = target.api.get("/delta/longpoll", params={"cursor": "0", "timeout": timeout})
        allowed = below_500 if timeout == "" else (lambda s: s == 400)
        problems.check(f"GET /delta/longpoll timeout={timeout}", response, allowed)
    for body in ({}, {"start": "abc"}, {"start": None}, {"start": 1, "extra": 2}, {"start": INF}):
        response = send_json(target.api, "POST", "/delta/generate_cursor", body)
        problems.check(f"POST /delta/generate_cursor {body}", response, lambda s: s == 400)
    problems.assert_none()


# ------------------------------------------------------------------------------ size limit


def _declared_only(engine: Any, method: str, path: str, token: str, size: int) -> bytes:
    """Send only the headers of a request that declares `size` bytes of JSON; the reply."""
    url = urlsplit(engine.url)
    auth = httpx.BasicAuth(token, "")
    authorization = next(auth.auth_flow(httpx.Request("GET", engine.url))).headers["Authorization"]
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: {url.netloc}\r\n"
        f"Authorization: {authorization}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {size}\r\nConnection: close\r\n\r\n"
    )
    with socket.create_connection((url.hostname, url.port), timeout=30) as sock:
        sock.sendall(head.encode())
        reply = b""
        while b"\r\n\r\n" not in reply or not _complete(reply):
            data = sock.recv(65536)
            if not data:
                break
            reply += data
    return reply


def _complete(reply: bytes) -> bool:
    head, _, body = reply.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return False


def test_bodies_over_the_json_limit_are_413_before_they_are_read(
    engine, all_routes, target, problems
):
    for route in _writes(all_routes):
        if str(route) in HTML_PAGES:
            continue
        path = target.fill(route)
        token = target.app["client_secret"] if is_app_route(route) else target.folders["id"]
        if "label" in route.path:
            token = target.labels["id"]
        reply = _declared_only(engine, route.method, path, token, MAX_JSON_BYTES + 1)
        status_line, _, rest = reply.partition(b"\r\n")
        body = rest.partition(b"\r\n\r\n")[2]
        response = httpx.Response(int(status_line.split()[1]), content=body)
        problems.check(
            f"{route} declaring {MAX_JSON_BYTES + 1} bytes", response, lambda s: s == 413
        )
    problems.assert_none()


def test_a_streamed_json_body_over_the_limit_is_413(target, problems):
    oversized = json.dumps({"subject": "big", "body": "x" * (MAX_JSON_BYTES + 1024)}).encode()
    for path in ("/drafts", "/send", "/folders"):
        response = target.api.post(
            path, content=chunks(oversized), headers={"Content-Type": "application/json"}
        )
        assert "content-length" not in response.request.headers
        problems.check(
            f"POST {path} with a chunked body over the limit", response, lambda s: s == 413
        )
    assert target.api.get("/drafts", params={"view": "count"}).json() == {"count": 0}
    problems.assert_none()


SEARCH_SYNTAX = ['"', '"unclosed', "AND", "OR OR", "NOT", "NEAR(", "(", ")", "*", "^", "a:b"]
SEARCH_SYNTAX += ["subject:hello", "-hello", "hello*", "%", "_", "\\", "'", "x" * 255, "ü", "🙂"]


def test_search_operators_in_q_are_plain_text(target, problems):
    """Whatever the full-text engine's query syntax, `q` never breaks the search."""
    Mailbox(target.engine, target.folders).add("Hello world", body="AND OR NOT near words")
    for q in SEARCH_SYNTAX:
        for path in ("/threads/search", "/messages/search", "/messages/search/streaming"):
            response = target.api.get(path, params={"q": q})
            problems.check(f"GET {path} q={q[:20]}", response, lambda s: s == 200)
    found = target.api.get("/messages/search", params={"q": "hello"}).json()
    assert [m["subject"] for m in found] == ["Hello world"]
    problems.assert_none()


# ----------------------------------------------------------- text, headers and sends (issue 10)


# Raw JSON escapes: Python's json would write a lone surrogate escaped too, but the test
# states the bytes the attacker sent. A NUL can't be stored in PostgreSQL text; a lone
# surrogate can't be encoded as UTF-8 anywhere: both are refused with a 400 on every database.
BAD_TEXT = {"lone surrogate": "\\ud800", "NUL": "a\\u0000b"}
TEXT_FIELDS = {
    "/drafts": "subject",
    "/events": "title",
    "/contacts": "given_name",
    "/folders": "display_name",
    "/calendars": "name",
}


def _json_with(target: Target, path: str, field: str, escaped: str) -> bytes:
    body = target.event_body() if path == "/events" else {}
    if path == "/calendars":
        body = {"name": "Calendar"}
    raw = json.dumps({**body, field: "PLACEHOLDER"})
    return raw.replace('"PLACEHOLDER"', f'"{escaped}"').encode()


def assert_json_4xx(response: httpx.Response, status: int = 400) -> None:
    assert response.status_code == status, response.text
    assert json_error_problem(response) is None


@pytest.mark.parametrize("kind", BAD_TEXT)
@pytest.mark.parametrize("path", TEXT_FIELDS)
def test_bad_text_in_json_bodies_is_400(shared_target, path, kind):
    target = shared_target
    log = LogWatch(target.engine)
    field = TEXT_FIELDS[path]
    before = target.api.get(path, params={"view": "count"}).json()
    for escaped in (BAD_TEXT[kind], f"ok{BAD_TEXT[kind]}ok"):
        body = _json_with(target, path, field, escaped)
        response = target.api.post(path, content=body, headers={"Content-Type": "application/json"})
        assert_json_4xx(response)
        assert "NUL characters or lone surrogates" in response.json()["message"]
    as_key = f'{{"{BAD_TEXT[kind]}": 1}}'.encode()
    response = target.api.post(path, content=as_key, headers={"Content-Type": "application/json"})
    assert_json_4xx(response)
    existing = target.fresh(path.rstrip("s").lstrip("/") + "_id")
    body = _json_with(target, path, field, BAD_TEXT[kind])
    update = target.api.put(
        f"{path}/{existing}", content=body, headers={"Content-Type": "application/json"}
    )
    assert_json_4xx(update)
    assert target.api.get(path, params={"view": "count"}).json() == {
        "count": before["count"] + 1  # the one made to update, unchanged
    }
    assert log.tracebacks() == []


@pytest.mark.parametrize(
    ("path", "param"),
    [
        ("/threads", "in"),
        ("/messages", "in"),
        ("/drafts", "in"),
        ("/threads", "subject"),
        ("/files", "filename"),
        ("/files", "content_type"),
        ("/events", "title"),
    ],
)
def test_a_nul_in_a_query_parameter_is_400(shared_target, path, param):
    target = shared_target
    log = LogWatch(target.engine)
    for value in ("\x00", "inbox\x00", "a\x00b"):
        response = target.api.get(path, params={param: value})
        assert_json_4xx(response)
        assert response.json()["message"] == f"Invalid query parameter {param!r}: it holds a NUL"
    assert log.tracebacks() == []


@pytest.mark.parametrize(
    "authorization", [b"Basic \xff", b"Basic \xff\xfe==", b"Bearer \xff", b"Basic YQBi"]
)
def test_undecodable_credentials_are_401(shared_target, authorization):
    """`YQBi` is base64 of `a<NUL>b`: no token holds a NUL."""
    target = shared_target
    log = LogWatch(target.engine)
    for path in ("/account", "/threads", f"/a/{target.app['client_id']}"):
        response = httpx.get(target.engine.url + path, headers={"Authorization": authorization})
        assert_json_4xx(response, 401)
    assert log.tracebacks() == []


@pytest.mark.parametrize(
    ("method", "path", "request_args"),
    [
        ("GET", "/threads", {"params": {"limit": "many"}}),
        ("GET", "/messages", {"params": {"unread": "maybe", "in": "inbox"}}),
        ("GET", "/events", {"params": {"starts_after": "soon"}}),
        ("GET", "/delta", {}),  # no cursor
        ("POST", "/drafts", {"content": b"{not json"}),
        ("PUT", "/messages/nosuchid", {"json": {"unread": "yes"}}),
    ],
)
def test_a_caller_with_a_wrong_token_hears_401_before_anything_else(
    shared_target, method, path, request_args
):
    """Whatever else is wrong with the request, a token that opens nothing is the answer
    (routes authenticate late, in their own thread: the malformed part is found first)."""
    with httpx.Client(base_url=shared_target.engine.url, auth=("no-such-token", "")) as stranger:
        assert_json_4xx(stranger.request(method, path, **request_args), 401)
    # The same request with a good token is told its own mistake.
    mistake = shared_target.api.request(method, path, **request_args)
    assert mistake.status_code in (400, 404), mistake.text


def test_a_multipart_boundary_over_256_characters_is_400(target):
    boundary = "b" * 300
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=file; filename=a.txt\r\n\r\n"
        f"hi\r\n--{boundary}--\r\n"
    ).encode()
    ctype = f"multipart/form-data; boundary={boundary}"
    response = target.api.post("/files", content=body, headers={"Content-Type": ctype})
    assert_json_4xx(response)
    assert "Boundary length 300 exceeds maximum of 256" in response.json()["message"]
    assert target.api.get("/files", params={"view": "count"}).json() == {"count": 0}


@pytest.fixture
def smtp() -> Iterator[SmtpListener]:
    with SmtpListener() as listener:
        yield listener


@pytest.mark.parametrize(
    ("to", "status"),
    [
        ({"email": "@example.org"}, 400),
        ({"email": "a@"}, 400),
        ({"email": "a\u0000b@example.org"}, 400),
        ({"email": "a@example.org\r\nRCPT TO:<z@example.net>"}, 400),
        ({"email": "a@example.org", "name": "Ann\u0000"}, 400),
    ],
)
def test_sends_to_bad_addresses_are_400_and_send_nothing(engine, smtp, to, status):
    sender = engine.new_account(**smtp.account_fields())
    log = LogWatch(engine)
    with engine.client(sender["id"]) as api:
        response = api.post("/send", json={"subject": "Hello", "to": [to]})
        assert_json_4xx(response, status)
        assert api.get("/messages", params={"view": "count"}).json() == {"count": 0}
    assert smtp.messages == []
    assert log.tracebacks() == []


def test_line_breaks_in_a_subject_or_a_name_are_folded_not_obeyed(engine, smtp):
    """CR/LF in a header value would let the client write headers of its own (a Bcc): they
    are folded into spaces, and the mail goes, as most mail clients do with a pasted subject."""
    sender = engine.new_account(**smtp.account_fields())
    with engine.client(sender["id"]) as api:
        response = api.post(
            "/send",
            json={
                "subject": "Hello\r\nBcc: spy@example.net",
                "to": [{"email": "ann@example.org", "name": "Ann\r\nBcc: spy@example.net"}],
            },
        )
        assert response.status_code == 200, response.text
        assert response.json()["subject"] == "Hello Bcc: spy@example.net"
    [received] = smtp.messages
    assert received.rcpt_tos == ["ann@example.org"]
    mime = received.message
    assert mime["Subject"] == "Hello Bcc: spy@example.net"
    assert mime["To"].addresses[0].addr_spec == "ann@example.org"
    assert mime["To"].addresses[0].display_name == "Ann Bcc: spy@example.net"
    assert mime["Bcc"] is None and b"\nBcc:" not in received.data


# ------------------------------------------------------------------- secrets in query strings


SECRET_QUERIES = [
    {"client_secret": "s3cr3t-value"},
    {"password": "s3cr3t-value"},
    {"access_token": "s3cr3t-value"},
    {"refresh_token": "s3cr3t-value"},
    {"imap_password": "s3cr3t-value", "limit": "5"},
    {"Client_Secret": "s3cr3t-value"},
]


@pytest.mark.parametrize("params", SECRET_QUERIES)
def test_secrets_in_a_query_string_are_refused_on_any_route(shared_target, params):
    target = shared_target
    before = target.api.get("/drafts", params={"view": "count"}).json()
    for method, path in (("GET", "/threads"), ("POST", "/drafts"), ("GET", "/oauth/token")):
        body = {"json": {"subject": "Not made"}} if method == "POST" else {}
        if path == "/oauth/token":  # no account credential: the secret is the credential
            response = httpx.request(method, target.engine.url + path, params=params)
        else:
            response = target.api.request(method, path, params=params, **body)
        assert_json_4xx(response)
        assert "may not be sent in the query string" in response.json()["message"]
        assert "s3cr3t-value" not in response.text
    assert target.api.get("/drafts", params={"view": "count"}).json() == before


def test_the_access_log_never_holds_a_query_secret(tmp_path, new_database):
    env = {"NYLAS_ENGINE_LOG_LEVEL": "info"}
    with LocalEngine(tmp_path, db_url=new_database(), env=env) as logged:
        url = logged.url + "/oauth/token"
        refused = httpx.get(url, params={"client_id": "abc", "client_secret": "s3cr3t-value"})
        assert refused.status_code == 400
        assert httpx.post(url, data={"client_secret": "s3cr3t-value"}).status_code == 400
        assert httpx.get(logged.url + "/accounts", params={"in": "inbox"}).status_code == 200
        log = logged.log_path.read_text()
    assert '"GET /oauth/token?client_id=abc&client_secret=*** HTTP/1.1" 400' in log
    assert '"GET /accounts?in=inbox HTTP/1.1" 200' in log  # the log still names requests
    assert "s3cr3t-value" not in log
