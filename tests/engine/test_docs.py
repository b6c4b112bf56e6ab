"""`/docs` works with no network but the engine's: the page names only the engine's own URLs,
and those are served (api/docs.py); `/openapi.json` has one operation id per operation."""

from __future__ import annotations

import re
from collections import Counter
from urllib.parse import urljoin

import httpx

CONTENT_TYPES = {
    ".js": ("text/javascript", "application/javascript"),
    ".css": ("text/css",),
    ".png": ("image/png",),
    ".json": ("application/json",),
}


def test_docs_page_and_its_assets_come_from_the_engine(engine):
    page = httpx.get(engine.url + "/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    linked = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
    linked += re.findall(r"""\burl:\s*['"]([^'"]+)['"]""", page.text)
    assert "://" not in page.text.replace("validatorUrl", "")  # no other host, no CDN
    assert {u.rsplit(".", 1)[-1] for u in linked} == {"css", "png", "js", "json"}
    for url in linked:
        assert url.startswith("/"), url
        asset = httpx.get(urljoin(engine.url, url))
        assert asset.status_code == 200, url
        suffix = "." + url.rsplit(".", 1)[-1]
        assert asset.headers["content-type"].split(";")[0] in CONTENT_TYPES[suffix], url
        assert len(asset.content) > 100
    bundle = httpx.get(urljoin(engine.url, next(u for u in linked if u.endswith(".js"))))
    assert "SwaggerUIBundle" in bundle.text


def test_openapi_operation_ids_are_unique(engine):
    spec = httpx.get(engine.url + "/openapi.json").json()
    ids = Counter(
        operation["operationId"]
        for item in spec["paths"].values()
        for operation in item.values()
        if isinstance(operation, dict) and "operationId" in operation
    )
    assert ids and [name for name, count in ids.items() if count > 1] == []
    assert "/docs" not in spec["paths"]


def test_openapi_describes_parameters_bodies_and_errors(engine):
    spec = httpx.get(engine.url + "/openapi.json").json()
    operations = [op for item in spec["paths"].values() for op in item.values()]
    assert all("422" not in op["responses"] for op in operations)  # bad input is a 400
    assert all("400" in op["responses"] for op in operations)
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    threads = spec["paths"]["/threads"]["get"]
    names = {p["name"] for p in threads["parameters"]}
    assert {"in", "from", "limit", "offset", "view", "unread"} <= names
    assert threads["security"] == [{"accessToken": []}, {"accessTokenBasic": []}]
    draft = spec["paths"]["/drafts"]["post"]["requestBody"]["content"]["application/json"]
    assert draft["schema"] == {"$ref": "#/components/schemas/DraftInput"}
    assert spec["paths"]["/a/{client_id}"]["get"]["security"] == [{"clientSecret": []}]
    assert {"accessToken", "accessTokenBasic", "clientSecret"} <= set(
        spec["components"]["securitySchemes"]
    )


def test_405_names_every_method_of_the_path(engine, api):
    response = api.request("OPTIONS", "/threads/abc")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD, PATCH, PUT"
    assert response.json()["type"] == "api_error"
