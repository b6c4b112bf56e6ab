"""Schemathesis hooks for tests/engine/test_openapi_conformance.py (loaded through
SCHEMATHESIS_HOOKS): rules the document cannot state, applied to the valid requests only.

A JSON schema describes each value, not how values relate (a start before an end), nor
what exists on the server (a code the engine issued, a registered redirect URI), nor the
bytes of an image. For the few operations with such a rule, a positive case is brought
within it before it is sent, changing only the values the rule is about, so every
operation is checked for accepting valid data (positive_data_acceptance) like the others.
Negative cases are sent as generated.

The run's own values come from the environment the test sets (CONFORMANCE_*).
"""

from __future__ import annotations

import json
import os
import time
import urllib.request
import uuid
from collections.abc import Callable
from typing import Any

import schemathesis

PNG = bytes.fromhex(  # a 1x1 PNG
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082"
)
CLOSED = "127.0.0.1"  # the mail servers of a sign-in: loopback, port 9 (nothing listens)


def _env(name: str) -> str:
    return os.environ[f"CONFORMANCE_{name}"]


def _api(method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """A request of the run's account (to find or make what a rule needs)."""
    request = urllib.request.Request(
        _env("URL") + path,
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Authorization": f"Bearer {_env('TOKEN')}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as reply:
        return json.loads(reply.read() or b"null")


def _body(case: Any) -> dict[str, Any]:
    if not isinstance(case.body, dict):
        case.body = {}
    return case.body


def _clean(value: Any) -> Any:
    """Text without NUL or lone surrogates: the pattern the document gives every text
    value (`GOOD_TEXT`), which schemathesis drops (its regex engine can't match
    surrogates), and the same rule for unknown fields, which the document leaves open."""
    if isinstance(value, str):
        return value.encode("utf-8", "ignore").decode().replace("\x00", "")
    if isinstance(value, list):
        return [_clean(item) for item in value]
    if isinstance(value, dict):
        return {_clean(k): _clean(v) for k, v in value.items()}
    return value


def _picture(case: Any) -> None:
    """An image (the engine reads its first bytes)."""
    case.body = PNG


INCLUDE, EXCLUDE = (
    ("include_types", "includeTypes"),
    ("exclude_types", "excluded_types", "excludeTypes"),
)


def _one_filter(case: Any) -> None:
    """Types to include or to exclude, not both, each in one spelling (or spellings that
    agree)."""
    given = [k for k in INCLUDE if k in case.query] or [k for k in EXCLUDE if k in case.query]
    for key in (*INCLUDE, *EXCLUDE):
        if key in case.query and key not in given[:1]:
            del case.query[key]


def _authorize_query(case: Any) -> None:
    """A registered client_id and its redirect_uri."""
    case.query.update(client_id=_env("CLIENT_ID"), redirect_uri=_env("REDIRECT_URI"))


def _authorize_form(case: Any) -> None:
    """The same in the form, and the form's CSRF token matching its cookie."""
    body = _body(case)
    body.update(client_id=_env("CLIENT_ID"), redirect_uri=_env("REDIRECT_URI"))
    body["csrf_token"] = "conformance"
    case.headers = {**(case.headers or {}), "Cookie": "nylas_engine_csrf=conformance"}


def _rsvp(case: Any) -> None:
    """An event from an invitation the account received (only those can be answered)."""
    _body(case)["event_id"] = _env("INVITE_ID")


def _connect(case: Any) -> None:
    """A registered client_id, and mail servers on loopback (no sign-in leaves the host)."""
    body = _body(case)
    body["client_id"] = _env("CLIENT_ID")
    body["email_address"] = f"{uuid.uuid4().hex}@example.com"  # a new account
    body["provider"] = "imap"
    body["settings"] = {
        "imap_host": CLOSED,
        "imap_port": 9,
        "imap_username": "conformance",
        "imap_password": "conformance",
        "smtp_host": CLOSED,
        "smtp_port": 9,
        "smtp_username": "conformance",
        "smtp_password": "conformance",
        "ssl_required": False,
    }


def _times(case: Any) -> None:
    """A start before the end, within a day, with durations that fit."""
    body = _body(case)
    start = body.get("start_time")
    start = start if isinstance(start, int) and 0 < start < 253402000000 else 1700000000
    body["start_time"], body["end_time"] = start, start + 86400
    if "duration_minutes" in body or case.operation.path.endswith("availability"):
        body["duration_minutes"] = 30
        body["interval_minutes"] = 30
    if not body.get("emails") and not body.get("calendars"):
        body["emails"] = ["conformance@example.com"]


def _short_wait(case: Any) -> None:
    """A valid cursor (the start of the log: "0"; others must have been issued), and a
    wait kept within the run's time budget."""
    _one_filter(case)
    case.query["cursor"] = "0"
    if case.operation.path != "/delta":
        case.query["timeout"] = min(float(case.query.get("timeout", 1)), 1)


def _new_name(case: Any) -> None:
    """A display name not yet used in the account."""
    body = _body(case)
    name = str(body.get("display_name") or "").strip() or "Folder"
    body["display_name"] = f"{name[:150]} {uuid.uuid4().hex[:8]}"


def _fresh(kind: str) -> Callable[[Any], None]:
    """Not a standard folder, the primary calendar, or a sent message: one made for the
    purpose (a draft at version 0). A folder account has no labels: those stay 404s."""

    def fix(case: Any) -> None:
        if kind == "labels":
            return
        made = {
            "calendars": {"name": "Fresh"},
            "drafts": {"subject": "Fresh"},
            "events": {"calendar_id": _env("CALENDAR_ID"), "when": {"time": 1700000000}},
        }
        body = made.get(kind) or {"display_name": uuid.uuid4().hex}
        (name,) = case.path_parameters
        case.path_parameters[name] = _api("POST", f"/{kind}", body)["id"]
        if kind == "drafts":
            if case.operation.method.upper() == "DELETE":
                case.query.pop("version", None)
            _body(case)["version"] = 0
            _draft(case)
        elif kind in ("folders", "labels") and case.operation.method.upper() != "DELETE":
            _new_name(case)
        elif kind == "events" and case.operation.method.upper() != "DELETE":
            _event(case)
        elif kind == "calendars" and case.operation.method.upper() != "DELETE":
            _time_zone(case)

    return fix


def _time_zone(case: Any) -> None:
    """An IANA time zone name."""
    body = _body(case)
    if body.get("timezone") is not None:
        body["timezone"] = "Europe/Paris"


def _event(case: Any) -> None:
    """A writable calendar of the account, and a `when` of one of the four shapes."""
    body = _body(case)
    if "calendar_id" in body or case.operation.method.upper() == "POST":
        body["calendar_id"] = _env("CALENDAR_ID")
    if body.get("when") is not None or case.operation.method.upper() == "POST":
        body["when"] = {"start_time": 1700000000, "end_time": 1700003600}


def _draft(case: Any) -> None:
    """Files and a replied-to message that exist: none."""
    body = _body(case)
    body.pop("file_ids", None)
    body.pop("reply_to_message_id", None)


def _sendable(case: Any) -> None:
    """A recipient (unless a saved draft is named), a send time to come, a sender that is
    the account's own (or none)."""
    _draft(case)
    body = _body(case)
    body.pop("draft_id", None)  # a saved draft's id and version: sent inline instead
    body.pop("version", None)
    for key in ("to", "cc", "bcc", "reply_to"):  # addresses that parse
        if body.get(key):
            body[key] = [{"email": f"{key}@example.com"}]
    if not any(body.get(k) for k in ("to", "cc", "bcc")):
        body["to"] = [{"email": "recipient@example.com"}]
    body.pop("from", None)
    body.pop("tracking", None)
    if "send_at" in body or case.operation.path.startswith("/v2/outbox"):
        body["send_at"] = int(time.time()) + 3600
        body.pop("retry_limit_datetime", None)


def _flags(case: Any) -> None:
    """A folder of the account (it keeps folders: no labels)."""
    body = _body(case)
    for key in ("label_ids", "labels"):
        body.pop(key, None)
    for key in ("folder_id", "folder"):
        if key in body:
            body[key] = _env("FOLDER_ID")


def _open_hours(case: Any) -> None:
    """Times in order; open hours and free/busy entries with their own rules: none."""
    _times(case)
    body = _body(case)
    body.pop("open_hours", None)
    body.pop("free_busy", None)
    if case.operation.path.endswith("consecutive"):
        body["emails"] = [["conformance@example.com"]]


FIXES: dict[str, Callable[[Any], None]] = {
    "get_delta": _short_wait,
    "longpoll": _short_wait,
    "streaming": _short_wait,
    "create_folder": _new_name,
    "create_label": _new_name,
    "rename_folder": _fresh("folders"),
    "rename_folder_patch": _fresh("folders"),
    "rename_label": _fresh("labels"),
    "rename_label_patch": _fresh("labels"),
    "delete_folder": _fresh("folders"),
    "delete_label": _fresh("labels"),
    "delete_calendar": _fresh("calendars"),
    "create_calendar": _time_zone,
    "update_calendar": _fresh("calendars"),
    "update_calendar_patch": _fresh("calendars"),
    "create_event": _event,
    "update_event": _fresh("events"),
    "update_event_patch": _fresh("events"),
    "delete_event": _fresh("events"),
    "to_ics": _event,
    "create_draft": _draft,
    "update_draft": _fresh("drafts"),
    "update_draft_patch": _fresh("drafts"),
    "delete_draft": _fresh("drafts"),
    "send": _sendable,
    "schedule_message": _sendable,
    "update_outbox_job_patch": _sendable,
    "update_message": _flags,
    "update_message_patch": _flags,
    "update_thread": _flags,
    "update_thread_patch": _flags,
    "oauth_authorize_page": _authorize_query,
    "oauth_authorize_submit": _authorize_form,
    "connect_authorize": _connect,
    "put_picture": _picture,
    "send_rsvp": _rsvp,
    "free_busy": _times,
    "single_availability": _open_hours,
    "consecutive_availability": _open_hours,
}


@schemathesis.hook
def before_call(ctx: Any, case: Any, **kwargs: Any) -> None:
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return
    if isinstance(case.body, (dict, list, str)):
        case.body = _clean(case.body)
    fix = FIXES.get(case.operation.definition.raw.get("operationId", ""))
    if fix is not None:
        fix(case)
