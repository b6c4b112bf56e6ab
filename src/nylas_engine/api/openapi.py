"""What `/openapi.json` says about each operation, kept out of the way of the route code.

A route decorator takes `**doc(...)`: its reply model, the statuses it can answer beyond the
ones every route shares, and its request body. The body is written into the document only:
routes keep reading it (api/deps.py `json_object`) themselves, with the engine's own 400
messages and its leniency (unknown fields are accepted, docs/protocol.md §18). Query
parameters are not written here: each route declares them (api/query.py), and FastAPI
documents them from that declaration.

`install_openapi` then finishes the document once for the whole app: the error replies
every operation shares (with the error body of docs/protocol.md §2), the security schemes,
one operation id per operation, and no 422 (the engine answers 400 for bad input).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

from nylas_engine.api.query import ID_PATTERN, NO_NUL
from nylas_engine.api.schemas.common import Error
from nylas_engine.scopes import SCOPES, SCOPES_PATTERN

ERROR_REF = {"$ref": "#/components/schemas/Error"}
REASONS = {
    400: "The request is invalid (a parameter or the body).",
    401: "Missing or wrong credentials.",
    402: "The mail server refused the message.",
    403: "Not allowed for this token, or the account is downgraded, out of date or stopped.",
    404: "Not found (or the account does not exist).",
    405: "Not offered on this resource.",
    409: "A version or state conflict.",
    413: "The request body is too large.",
    429: "Too many requests or failed sign-ins: retry later.",
    500: "An internal error.",
    501: "Not implemented by the engine.",
    503: "The engine is busy, or a mail server could not be reached.",
}
# What any request can be answered with: a bad parameter, a body over the limit, an
# internal error, admission control's 503 (api/admission.py).
SHARED = (400, 413, 500, 503)
ACCOUNT = (401, 403, 404)  # account_scope: credentials, scopes and account state
APP = (401, 404, 429)  # app_scope: client credentials, with a limit on failed attempts

_ID = {"type": "string", "pattern": ID_PATTERN}

BODY_MODELS: dict[str, type[BaseModel]] = {}


def param(name: str, schema: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """One optional query parameter of a page whose fields are not a route's declared ones."""
    return {"name": name, "in": "query", "required": False, "schema": schema, **extra}


def doc(
    *statuses: int,
    reply: Any = None,
    status: int = 200,
    body: type[BaseModel] | dict[str, Any] | None = None,
    op: str | None = None,
    media: str | None = None,
    body_types: tuple[str, ...] = ("application/json",),
) -> dict[str, Any]:
    """Keyword arguments for a route decorator (`@router.get(path, **doc(...))`).

    `statuses` are the errors this route can answer besides the shared ones; `reply` the
    model (or `list[...]`, a union...) of its `status` reply, `media` when that is not JSON;
    `body` the JSON body it reads (or, with `body_types`, the schema of a body of those
    types). Query parameters are the route's own declared ones (api/query.py)."""
    responses: dict[int | str, Any] = {
        s: {"description": REASONS[s], "model": Error} for s in statuses
    }
    if media is not None:
        responses[status] = {"description": "OK", "content": {media: {}}}
    elif reply is not None:
        responses[status] = {"description": "OK", "model": reply}
    extra: dict[str, Any] = {}
    if body is not None:
        schema = body if isinstance(body, dict) else _ref(body)
        needed = not isinstance(body, type) or any(
            f.is_required() for f in body.model_fields.values()
        )
        extra["requestBody"] = {
            "required": needed,
            "content": {media_type: {"schema": schema} for media_type in body_types},
        }
        if isinstance(body, type):
            BODY_MODELS[body.__name__] = body  # added to the components by install_openapi
    kwargs: dict[str, Any] = {"responses": responses}
    if extra:
        kwargs["openapi_extra"] = extra
    if op is not None:
        kwargs["operation_id"] = op
    if status != 200:
        kwargs["status_code"] = status
    return kwargs


def _ref(model: type[BaseModel]) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def paged(model: Any) -> Any:
    """The reply of a list: the objects, their ids (`view=ids`) or their count."""
    from nylas_engine.api.schemas.common import Count

    return list[model] | list[str] | Count


def operation_id(path: str, methods: Iterable[str], name: str) -> str:
    """The endpoint's name, `app_` first under /a/ (the account routes have the same names),
    `oauth_`/`connect_` under those, and `_patch` for the PATCH twin of a PUT route."""
    first = path.split("/")[1]
    prefix = {"a": "app_", "oauth": "oauth_", "connect": "connect_"}.get(first, "")
    return prefix + name + ("_patch" if "PATCH" in methods else "")


def allowed_methods(spec: dict[str, Any], path: str) -> str | None:
    """The `Allow` header for a path the document describes (None for one it does not)."""
    for template, item in spec["paths"].items():
        if re.fullmatch(re.sub(r"\\{[^}]*\\}", "[^/]+", re.escape(template)), path):
            methods = {m.upper() for m in item}
            if "GET" in methods:
                methods.add("HEAD")
            return ", ".join(sorted(methods))
    return None


def install_openapi(app: FastAPI) -> None:
    """Replace `app.openapi` with one that finishes the document (see the module doc)."""
    base = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        spec = base()
        _finish(spec)
        app.openapi_schema = spec
        return spec

    app.openapi = openapi  # type: ignore[method-assign]


def _security(path: str) -> list[dict[str, list[str]]] | None:
    if path.startswith("/a/"):
        return [{"clientSecret": []}]
    if path == "/oauth/revoke":  # revokes the token it is called with
        return [{"accessToken": []}, {"accessTokenBasic": []}]
    if path.startswith(("/oauth/", "/connect/")) or path in ("/", "/accounts"):
        return None
    return [{"accessToken": []}, {"accessTokenBasic": []}]


def _finish(spec: dict[str, Any]) -> None:
    components = spec.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    schemas.setdefault("Error", Error.model_json_schema())
    components["securitySchemes"] = {
        "accessToken": {"type": "http", "scheme": "bearer", "description": "An access token."},
        "accessTokenBasic": {
            "type": "http",
            "scheme": "basic",
            "description": "An access token as the Basic username, with no password.",
        },
        "clientSecret": {
            "type": "http",
            "scheme": "basic",
            "description": "The app's client secret as the Basic username (or "
            "client_id:client_secret).",
        },
        # Where access tokens come from (docs/protocol.md §16): a code from the sign-in
        # page or from POST /connect/authorize, exchanged at the token URL.
        "oauth": _code_flow("/oauth/authorize", "/oauth/token", "The hosted sign-in page."),
        "nativeAuth": _code_flow(
            "/connect/authorize", "/connect/token", "Native authentication (the app signs in)."
        ),
    }
    for model in BODY_MODELS.values():
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, sub in schema.pop("$defs", {}).items():
            schemas.setdefault(name, sub)
        schemas.setdefault(model.__name__, schema)
    for path, item in spec["paths"].items():
        for operation in item.values():
            _finish_operation(path, operation)


def _finish_operation(path: str, operation: dict[str, Any]) -> None:
    responses = operation.setdefault("responses", {})
    responses.pop("422", None)
    security = _security(path)
    statuses = [*SHARED, *(APP if path.startswith("/a/") else ACCOUNT if security else ())]
    for status in statuses:
        responses.setdefault(str(status), _error(status))
    for reply in responses.values():
        for content in reply.get("content", {}).values():
            if content.get("schema", {}).get("$ref", "").endswith("/Error"):
                content["schema"] = ERROR_REF
    if security is not None:
        operation["security"] = security
    else:
        operation["security"] = []
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "path":  # every path parameter is an id
            parameter["schema"] = {**_ID, "title": parameter["schema"].get("title", "Id")}


def _code_flow(authorize: str, token: str, description: str) -> dict[str, Any]:
    flow = {"authorizationUrl": authorize, "tokenUrl": token, "scopes": dict.fromkeys(SCOPES, "")}
    return {"type": "oauth2", "description": description, "flows": {"authorizationCode": flow}}


def _error(status: int) -> dict[str, Any]:
    return {"description": REASONS[status], "content": {"application/json": {"schema": ERROR_REF}}}


# The fields of the sign-in page (GET query, POST form): api/routes/oauth.py `parse_authorize`.
_LONG = {"type": "string", "maxLength": 2048, "pattern": NO_NUL}
AUTHORIZE_FIELDS: dict[str, Any] = {
    "client_id": {**_LONG, "minLength": 1},
    "redirect_uri": {**_LONG, "minLength": 1},
    "response_type": {"type": "string", "enum": ["code", "token"], "default": "code"},
    # comma- or space-separated (scopes.py `_names`), none meaning the default ones
    "scopes": {
        "type": "string",
        "maxLength": 255,
        "pattern": SCOPES_PATTERN,
    },
    "state": _LONG,
    "login_hint": _LONG,
    "redirect_on_error": {"type": "string", "enum": ["true", "false"]},
}
AUTHORIZE_REQUIRED = ("client_id", "redirect_uri")


def html_page(*, form: bool = False) -> dict[str, Any]:
    """The OAuth pages a browser sees: HTML, a redirect, or an HTML error page; their
    fields in the query (GET) or a form (POST, with the sign-in and its CSRF token)."""
    page: dict[str, Any] = {"content": {"text/html": {}}}
    if form:
        fields = {
            **AUTHORIZE_FIELDS,
            "email": {"type": "string", "maxLength": 320},
            "password": {"type": "string", "maxLength": 1024},
            "csrf_token": {"type": "string"},
            "action": {"type": "string", "enum": ["allow", "deny"]},
        }
        schema = {"type": "object", "properties": fields, "required": [*AUTHORIZE_REQUIRED]}
        extra: dict[str, Any] = {
            "requestBody": {
                "required": True,
                "content": {"application/x-www-form-urlencoded": {"schema": schema}},
            }
        }
    else:
        extra = {
            "parameters": [
                param(name, schema, required=name in AUTHORIZE_REQUIRED)
                for name, schema in AUTHORIZE_FIELDS.items()
            ]
        }
    return {
        "openapi_extra": extra,
        "responses": {
            200: {"description": "The sign-in page.", **page},
            303: {"description": "Back to the app's redirect_uri."},
            # A query the engine refuses before any route (a NUL, a secret in the URL:
            # api/query_guard.py) gets the JSON error body every route gives.
            400: {"description": REASONS[400], "model": Error, **page},
            **{s: {"description": REASONS[s], **page} for s in (401, 429)},
        },
    }
