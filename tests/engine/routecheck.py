"""Shared by the cross-cutting robustness tests (isolation of every route, bad input on every
route): the live engine's route table from `/openapi.json`, objects of every kind for one
account, and checks on error replies and on the engine log."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from mailfactory import Mailbox

WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
PARAM = re.compile(r"\{([^}]+)\}")
# The smallest valid PNG: contact pictures must be real images.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)
SECRET_WORD = "okapi"


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # the template, e.g. /threads/{thread_id}

    @property
    def params(self) -> list[str]:
        return PARAM.findall(self.path)

    def url(self, values: dict[str, str]) -> str:
        return PARAM.sub(lambda m: values[m.group(1)], self.path)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def routes(engine: Any) -> list[Route]:
    """Every method + path the running engine documents in /openapi.json."""
    spec = httpx.get(engine.url + "/openapi.json", timeout=30).json()
    return [
        Route(method.upper(), path)
        for path, operations in spec["paths"].items()
        for method in operations
        if method.upper() in ("GET", *WRITE_METHODS)
    ]


def is_app_route(route: Route) -> bool:
    return route.path.startswith("/a/")


def unfillable(found: list[Route], known: set[str]) -> list[str]:
    """Routes with a path parameter the tests have no value for (new routes need one)."""
    return sorted({str(r) for r in found if any(p not in known for p in r.params)})


def json_error_problem(response: httpx.Response) -> str | None:
    """Why `response` is not the JSON error body of docs/protocol.md §2, or None if it is."""
    try:
        body = response.json()
    except ValueError:
        return f"body is not JSON: {response.text[:200]!r}"
    if not isinstance(body, dict):
        return f"body is not an object: {body!r:.200}"
    if not isinstance(body.get("message"), str) or not isinstance(body.get("type"), str):
        return f"body lacks message/type: {body!r:.200}"
    return None


class LogWatch:
    """The part of the engine's log written since the watch began."""

    def __init__(self, engine: Any) -> None:
        self.path = engine.data_dir / "engine.log"
        self.start = self.path.stat().st_size if self.path.exists() else 0

    def new_text(self) -> str:
        with self.path.open("rb") as log:
            log.seek(self.start)
            return log.read().decode("utf-8", "replace")

    def tracebacks(self) -> list[str]:
        """Each logged traceback, shortened to its first and last lines."""
        text = self.new_text()
        found = []
        for match in re.finditer(r"Traceback \(most recent call last\):", text):
            block = text[max(0, match.start() - 300) : match.start() + 4000].splitlines()
            found.append("\n".join(block[:3] + ["..."] + block[-6:]))
        return found


@dataclass
class Objects:
    """Public ids of one object of every kind owned by one account (plus its label twin)."""

    account: dict[str, Any]
    ids: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, name: str) -> str:
        return self.ids[name]


def populate(engine: Any, account: dict[str, Any], label_account: dict[str, Any]) -> Objects:
    """A thread with a message and an attachment, an uploaded file, a draft, a user folder,
    a calendar, an event and a contact with a picture in `account`; a user label (and a
    labelled message) in `label_account`. Everything that has a route is made through it."""
    objects = Objects(account)
    box = Mailbox(engine, account)
    message = box.add(
        "Secret plans",
        from_="spy@x.com",
        body=f"the secret word is {SECRET_WORD}",
        files=[("plans.txt", "text/plain", b"okapi plans")],
    )
    objects.ids.update(message_id=message["id"], thread_id=message["thread_id"])
    with engine.client(account["id"]) as api:
        attachment = api.get(f"/messages/{message['id']}").json()["files"][0]["id"]
        objects.ids["attachment_id"] = attachment
        objects.ids["file_id"] = _ok(api.post("/files", files={"file": ("a.txt", b"secret")}))[0][
            "id"
        ]
        objects.ids["draft_id"] = _ok(
            api.post("/drafts", json={"subject": "Secret draft", "to": [{"email": "x@y.com"}]})
        )["id"]
        objects.ids["folder_id"] = _ok(api.post("/folders", json={"display_name": "Hidden"}))["id"]
        calendars = api.get("/calendars")
        if calendars.status_code == 200:
            objects.ids["calendar_id"] = _ok(api.post("/calendars", json={"name": "Private"}))["id"]
            event = {
                "calendar_id": objects["calendar_id"],
                "title": "Secret meeting",
                "when": {"start_time": 1_700_000_000, "end_time": 1_700_003_600},
                "participants": [{"email": "spy@x.com"}],
            }
            objects.ids["event_id"] = _ok(api.post("/events", json=event))["id"]
        contact = api.post(
            "/contacts",
            json={"given_name": "Secret", "emails": [{"type": "work", "email": "spy@x.com"}]},
        )
        if contact.status_code == 200:
            objects.ids["contact_id"] = contact.json()["id"]
            _ok(api.put(f"/contacts/{objects['contact_id']}/picture", content=PNG))
        job = api.post("/v2/outbox", json={"to": [{"email": "x@y.com"}], "send_at": 4102444800})
        if job.status_code == 202:  # a secret message for 2100
            objects.ids["job_status_id"] = job.json()["job_status_id"]
    labelled = Mailbox(engine, label_account)
    with engine.client(label_account["id"]) as api:
        objects.ids["label_id"] = _ok(api.post("/labels", json={"display_name": "Hidden"}))["id"]
    label_message = labelled.add("Labelled secret", labels=["inbox", "Hidden"])
    objects.ids.update(
        label_message_id=label_message["id"], label_thread_id=label_message["thread_id"]
    )
    return objects


def _ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, (response.request.url, response.text)
    return response.json()


def snapshot(engine: Any, objects: Objects, label_account: dict[str, Any]) -> dict[str, Any]:
    """Everything the owner can read about its objects, to compare before and after."""
    paths = {
        "thread": f"/threads/{objects['thread_id']}?view=expanded",
        "message": f"/messages/{objects['message_id']}?view=expanded",
        "draft": f"/drafts/{objects['draft_id']}",
        "file": f"/files/{objects['file_id']}",
        "download": f"/files/{objects['file_id']}/download",
        "folder": f"/folders/{objects['folder_id']}",
        "folders": "/folders",
        "drafts": "/drafts",
        "files": "/files",
    }
    for name in ("calendar", "event", "contact"):
        if f"{name}_id" in objects.ids:
            paths[name] = f"/{name}s/{objects[f'{name}_id']}"
            paths[f"{name}s"] = f"/{name}s"
    if "job_status_id" in objects.ids:
        paths["outbox"] = f"/v2/outbox/{objects['job_status_id']}"
        paths["job_statuses"] = "/job-statuses"
    if "contact_id" in objects.ids:
        paths["picture"] = f"/contacts/{objects['contact_id']}/picture"
    state: dict[str, Any] = {}
    with engine.client(objects.account["id"]) as api:
        for name, path in paths.items():
            response = api.get(path)
            state[name] = (response.status_code, response.content)
    with engine.client(label_account["id"]) as api:
        for name, path in {
            "label": f"/labels/{objects['label_id']}",
            "labels": "/labels",
            "label_thread": f"/threads/{objects['label_thread_id']}?view=expanded",
        }.items():
            response = api.get(path)
            state[name] = (response.status_code, response.content)
    return state


def ids_in(text: str, objects: Objects) -> list[str]:
    """Which of the owner's object ids appear in `text`."""
    return sorted(name for name, value in objects.ids.items() if value in text)


def chunks(data: bytes, size: int = 1024 * 1024) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]
