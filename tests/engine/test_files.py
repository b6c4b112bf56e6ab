"""Files (docs/protocol.md §10): streamed upload and download, metadata, filters, delete, limits."""

from __future__ import annotations

import hashlib
import os
from email.header import decode_header
from urllib.parse import unquote

import httpx
import pytest

from nylas.testing import LocalEngine


def upload(api: httpx.Client, *files: tuple[str, tuple[str, bytes, str]]) -> list[dict]:
    response = api.post("/files", files=list(files))
    assert response.status_code == 200, response.text
    return response.json()


def test_upload_and_download_a_few_mib_byte_exact(api, account):
    data = os.urandom(3 * 1024 * 1024 + 17)
    [created] = upload(api, ("file", ("report.bin", data, "application/x-thing")))
    assert created["object"] == "file"
    assert created["account_id"] == account["id"]
    assert created["filename"] == "report.bin"
    assert created["content_type"] == "application/x-thing"
    assert created["size"] == len(data)
    assert "message_ids" not in created

    with api.stream("GET", f"/files/{created['id']}/download") as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/octet-stream"
        assert response.headers["content-disposition"] == 'attachment; filename="report.bin"'
        digest = hashlib.sha256()
        for chunk in response.iter_bytes():
            digest.update(chunk)
    assert digest.hexdigest() == hashlib.sha256(data).hexdigest()

    assert api.get(f"/files/{created['id']}").json() == created


def test_every_file_part_is_stored_whatever_its_field_name(api):
    response = api.post(
        "/files",
        data={"note": "a plain form field is not a file"},
        files=[
            ("file", ("a.txt", b"alpha", "text/plain")),
            ("attachment", ("b.csv", b"x,y\n1,2\n", "text/csv")),
        ],
    )
    assert response.status_code == 200
    created = response.json()
    assert [(f["filename"], f["size"], f["content_type"]) for f in created] == [
        ("a.txt", 5, "text/plain"),
        ("b.csv", 8, "text/csv"),
    ]
    assert api.get(f"/files/{created[1]['id']}/download").content == b"x,y\n1,2\n"


def test_upload_without_a_file_is_400(api):
    only_fields = api.post(
        "/files",
        content=b'--B\r\nContent-Disposition: form-data; name="note"\r\n\r\nhi\r\n--B--\r\n',
        headers={"Content-Type": "multipart/form-data; boundary=B"},
    )
    assert only_fields.status_code == 400
    assert only_fields.json()["type"] == "invalid_request_error"
    not_multipart = api.post("/files", json={"file": "x"})
    assert not_multipart.status_code == 400


def test_filenames_are_sanitised(api):
    [traversal] = upload(api, ("file", ("../../etc/passwd", b"root", "text/plain")))
    assert traversal["filename"] == "passwd"
    # httpx escapes control characters itself, so send the raw bytes a hostile client would.
    raw = (
        b"--B\r\nContent-Disposition: form-data; name=file; "
        b'filename="C:\\x\\evil\x07na\x7fme.txt"\r\n'
        b"Content-Type: text/plain\r\n\r\nx\r\n--B--\r\n"
    )
    response = api.post(
        "/files", content=raw, headers={"Content-Type": "multipart/form-data; boundary=B"}
    )
    assert response.status_code == 200
    assert response.json()[0]["filename"] == "evilname.txt"


def test_download_names_non_latin1_and_missing(api):
    [russian] = upload(api, ("file", ("отчёт.pdf", b"%PDF-1.4", "application/pdf")))
    raw = (
        b'--B\r\nContent-Disposition: form-data; name="file"; filename=""\r\n'
        b"Content-Type: image/png\r\n\r\n\x89PNG\r\n--B--\r\n"
    )
    response = api.post(
        "/files", content=raw, headers={"Content-Type": "multipart/form-data; boundary=B"}
    )
    [nameless] = response.json()
    header = api.get(f"/files/{russian['id']}/download").headers["content-disposition"]
    assert header.startswith("attachment; ")
    encoded = header.split('filename="', 1)[1].split('"', 1)[0]
    [(raw, charset)] = decode_header(encoded)
    assert raw.decode(charset) == "отчёт.pdf"
    assert unquote(header.split("filename*=UTF-8''", 1)[1]) == "отчёт.pdf"

    assert nameless["filename"] is None
    header = api.get(f"/files/{nameless['id']}/download").headers["content-disposition"]
    assert header == 'attachment; filename="attachment.png"'


def test_list_filters_views_and_paging_in_creation_order(api):
    created = upload(
        api,
        ("file", ("one.txt", b"1", "text/plain")),
        ("file", ("two.csv", b"2", "text/csv")),
        ("file", ("three.txt", b"3", "text/plain")),
    )
    ids = [f["id"] for f in created]
    assert [f["id"] for f in api.get("/files").json()] == ids
    assert api.get("/files", params={"view": "ids"}).json() == ids
    assert api.get("/files", params={"view": "count"}).json() == {"count": 3}
    assert api.get("/files", params={"limit": 1, "offset": 1}).json()[0]["id"] == ids[1]
    assert api.get("/files", params={"offset": 3}).json() == []
    by_name = api.get("/files", params={"filename": "two.csv"}).json()
    assert [f["id"] for f in by_name] == [ids[1]]
    by_type = api.get("/files", params={"content_type": "text/plain"}).json()
    assert [f["id"] for f in by_type] == [ids[0], ids[2]]
    assert api.get("/files", params={"view": "bogus"}).status_code == 400


def test_get_unknown_and_bad_ids(api):
    missing = api.get("/files/abc123")
    assert missing.status_code == 404
    assert missing.json() == {
        "message": "Couldn't find file abc123",
        "type": "invalid_request_error",
    }
    assert api.get("/files/abc123/download").status_code == 404
    assert api.get("/files/not-an-id!").status_code == 400


def test_delete_is_soft_and_returns_null(api):
    [created] = upload(api, ("file", ("gone.txt", b"bye", "text/plain")))
    response = api.delete(f"/files/{created['id']}")
    assert response.status_code == 200
    assert response.json() is None
    assert api.get(f"/files/{created['id']}").status_code == 404
    assert api.get("/files", params={"view": "ids"}).json() == []
    assert api.delete(f"/files/{created['id']}").status_code == 404


def test_other_accounts_files_are_invisible(engine, api):
    [mine] = upload(api, ("file", ("mine.txt", b"secret", "text/plain")))
    other = engine.new_account()
    with engine.client(other["id"]) as theirs:
        for method, path in (
            ("GET", f"/files/{mine['id']}"),
            ("GET", f"/files/{mine['id']}/download"),
            ("DELETE", f"/files/{mine['id']}"),
        ):
            response = theirs.request(method, path)
            assert response.status_code == 404, (method, path)
        assert theirs.get("/files", params={"view": "count"}).json() == {"count": 0}
    assert api.get(f"/files/{mine['id']}/download").content == b"secret"


@pytest.fixture(scope="module")
def small_engine(tmp_path_factory):
    engine = LocalEngine(tmp_path_factory.mktemp("small"), extra_args=["--max-upload-mb", "1"])
    engine.start()
    yield engine
    engine.close()


def _multipart(data: bytes, chunk: int = 64 * 1024):
    yield b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n'
    yield b"Content-Type: application/octet-stream\r\n\r\n"
    for start in range(0, len(data), chunk):
        yield data[start : start + chunk]
    yield b"\r\n--XyZ--\r\n"


def test_uploads_over_the_limit_get_413_json(small_engine):
    token = small_engine.add_account("limits@example.com")["id"]
    with httpx.Client(base_url=small_engine.url, auth=(token, ""), timeout=30) as client:
        big = os.urandom(2 * 1024 * 1024)
        declared = client.post("/files", files={"file": ("big.bin", big)})
        assert declared.status_code == 413
        assert declared.json()["type"] == "api_error"

        # No Content-Length (chunked): the engine counts the bytes as they stream in.
        streamed = client.post(
            "/files",
            content=_multipart(big),
            headers={"Content-Type": "multipart/form-data; boundary=XyZ"},
        )
        assert "content-length" not in streamed.request.headers
        assert streamed.status_code == 413
        assert streamed.json()["type"] == "api_error"
        assert client.get("/files", params={"view": "count"}).json() == {"count": 0}

        under = os.urandom(900 * 1024)
        fits = client.post(
            "/files",
            content=_multipart(under),
            headers={"Content-Type": "multipart/form-data; boundary=XyZ"},
        )
        assert fits.status_code == 200
        [created] = fits.json()
        assert client.get(f"/files/{created['id']}/download").content == under


def test_raw_mime_send_over_the_limit_gets_413(small_engine):
    token = small_engine.add_account("raw-limit@example.com")["id"]
    # Raw MIME may be as large as the larger of the JSON limit (16 MiB) and the upload limit.
    header = b"From: a@x.com\r\nTo: b@x.com\r\nSubject: big\r\n\r\n"
    line = b"x" * 998 + b"\r\n"

    def body():
        yield header
        for _ in range(17 * 1024):
            yield line

    with httpx.Client(base_url=small_engine.url, auth=(token, ""), timeout=60) as client:
        response = client.post("/send", content=body(), headers={"Content-Type": "message/rfc822"})
        assert response.status_code == 413
        assert response.json()["type"] == "api_error"


# ------------------------------------------------------------------------------ part limits


def _parts(count: int, *, files: bool, boundary: bytes = b"XyZ"):
    """A multipart body of `count` one-byte parts, files or plain fields."""
    for i in range(count):
        name = f'name="f{i}"; filename="f{i}.txt"' if files else f'name="field{i}"'
        yield b"--" + boundary + b"\r\nContent-Disposition: form-data; " + name.encode()
        yield b"\r\n\r\nx\r\n"
    yield b"--" + boundary + b"--\r\n"


def _post_parts(api: httpx.Client, count: int, *, files: bool) -> httpx.Response:
    return api.post(
        "/files",
        content=b"".join(_parts(count, files=files)),
        headers={"Content-Type": "multipart/form-data; boundary=XyZ"},
    )


def test_a_flood_of_tiny_parts_is_refused_without_creating_files(api):
    """Issue 10: 100,000 one-byte parts (6.8 MB) took 39 s and made 100,000 file rows."""
    flood = _post_parts(api, 100_000, files=True)
    assert flood.status_code == 400
    assert flood.json() == {
        "message": "Too many files in one upload: at most 100 are allowed.",
        "type": "invalid_request_error",
    }
    fields = _post_parts(api, 100_000, files=False)
    assert fields.status_code == 400
    assert fields.json()["message"] == "Too many parts in the upload: at most 1000 are allowed."
    assert api.get("/files", params={"view": "count"}).json() == {"count": 0}


def test_up_to_a_hundred_files_in_one_upload(api):
    assert _post_parts(api, 101, files=True).status_code == 400
    assert api.get("/files", params={"view": "count"}).json() == {"count": 0}
    response = _post_parts(api, 100, files=True)
    assert response.status_code == 200, response.text
    assert len(response.json()) == 100
    assert api.get("/files", params={"view": "count"}).json() == {"count": 100}
