"""Contacts in hosted v2's shape (docs/protocol.md §13): CRUD, list filters, pictures,
validation."""

from __future__ import annotations

import struct
import zlib
from typing import Any

import httpx
import pytest

from nylas.testing import LocalEngine


def png(width: int = 2, height: int = 2) -> bytes:
    """A real (tiny, grey) PNG image."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


ADA = {
    "given_name": "Ada",
    "middle_name": "King",
    "surname": "Lovelace",
    "suffix": "Countess",
    "nickname": "Ada",
    "birthday": "1815-12-10",
    "company_name": "Analytical Engines",
    "job_title": "Programmer",
    "manager_name": "Charles",
    "office_location": "London",
    "notes": "First program",
    "emails": [
        {"type": "work", "email": "ada@engines.example"},
        {"type": "personal", "email": "ada@home.example"},
    ],
    "im_addresses": [{"type": "gtalk", "im_address": "ada@chat.example"}],
    "physical_addresses": [
        {
            "type": "work",
            "street_address": "12 St James's Square",
            "city": "London",
            "postal_code": "SW1Y 4JH",
            "state": "England",
            "country": "UK",
        }
    ],
    "phone_numbers": [{"type": "mobile", "number": "+44 20 7946 0018"}],
    "web_pages": [{"type": "profile", "url": "https://example.org/ada"}],
}


def create(api: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    response = api.post("/contacts", json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_create_and_read_a_contact(api, account):
    ada = create(api, ADA)
    assert ada["object"] == "contact"
    assert ada["account_id"] == account["id"]
    for key in ("given_name", "surname", "birthday", "notes", "emails", "im_addresses"):
        assert ada[key] == ADA[key], key
    assert ada["physical_addresses"] == [{**ADA["physical_addresses"][0], "format": "structured"}]
    assert ada["phone_numbers"] == ADA["phone_numbers"]
    assert ada["web_pages"] == ADA["web_pages"]
    assert ada["source"] == "address_book"
    assert ada["picture_url"] is None
    assert ada["groups"] == []
    assert api.get(f"/contacts/{ada['id']}").json() == ada

    bare = create(api, {})
    assert bare["given_name"] is None and bare["emails"] == [] and bare["birthday"] is None
    typed = create(api, {"emails": [{"email": "x@y.example"}], "source": "inbox"})
    assert typed["emails"] == [{"type": None, "email": "x@y.example"}]
    assert typed["source"] == "inbox"


def test_update_keeps_what_is_not_sent(api):
    ada = create(api, ADA)
    sent = {**ada, "job_title": "Analyst", "phone_numbers": [], "picture_url": "x", "groups": [1]}
    response = api.put(f"/contacts/{ada['id']}", json=sent)
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated == {**ada, "job_title": "Analyst", "phone_numbers": []}
    patched = api.patch(f"/contacts/{ada['id']}", json={"nickname": None, "birthday": ""}).json()
    assert patched == {**updated, "nickname": None, "birthday": None}
    # `source` is set when a contact is made and stays.
    assert api.put(f"/contacts/{ada['id']}", json={"source": "inbox"}).json() == patched
    assert api.get(f"/contacts/{ada['id']}").json() == patched


def test_delete_is_soft_and_final(api):
    ada = create(api, ADA)
    kept = create(api, {"given_name": "Grace"})
    response = api.delete(f"/contacts/{ada['id']}")
    assert response.status_code == 200
    assert response.json() is None
    missing = api.get(f"/contacts/{ada['id']}")
    assert missing.status_code == 404
    assert missing.json()["message"] == f"Couldn't find contact {ada['id']}"
    assert api.get("/contacts", params={"view": "ids"}).json() == [kept["id"]]
    assert api.delete(f"/contacts/{ada['id']}").status_code == 404
    assert api.put(f"/contacts/{ada['id']}", json={"notes": "x"}).status_code == 404


def test_list_filters_views_and_paging(api):
    ada = create(api, ADA)
    grace = create(
        api,
        {
            "given_name": "Grace",
            "emails": [{"type": "work", "email": "Grace@Navy.example"}],
            "phone_numbers": [{"type": "work", "number": "(555) 010-0199"}],
            "physical_addresses": [
                {
                    "type": "home",
                    "city": "Arlington",
                    "state": "VA",
                    "country": "US",
                    "postal_code": "22201",
                }
            ],
        },
    )
    alan = create(api, {"given_name": "Alan", "source": "inbox"})

    def ids(**params: Any) -> list[str]:
        response = api.get("/contacts", params=params)
        assert response.status_code == 200, response.text
        return [c["id"] for c in response.json()]

    everyone = [ada["id"], grace["id"], alan["id"]]
    assert ids() == everyone  # creation order
    assert ids(email="grace@navy.example") == [grace["id"]]
    assert ids(email="ADA@home.example") == [ada["id"]]
    assert ids(filter="ada@engines.example") == [ada["id"]]
    assert ids(email="ada@") == []  # exact, not a substring
    assert ids(phone_number="5550100199") == [grace["id"]]
    assert ids(phone_number="+442079460018") == [ada["id"]]
    assert ids(street_address="12 st james's square") == [ada["id"]]
    assert ids(postal_code="22201") == [grace["id"]]
    assert ids(state="England") == [ada["id"]]
    assert ids(country="us") == [grace["id"]]
    assert ids(country="us", state="England") == []
    assert ids(source="inbox") == [alan["id"]]
    assert ids(source="address_book") == [ada["id"], grace["id"]]
    assert ids(group="0abc") == []
    assert ids(limit=1, offset=1) == [grace["id"]]
    assert ids(country="US", limit=1, offset=1) == []
    assert api.get("/contacts", params={"view": "count"}).json() == {"count": 3}
    assert api.get("/contacts", params={"view": "count", "email": "ada@home.example"}).json() == {
        "count": 1
    }
    assert api.get("/contacts", params={"view": "ids"}).json() == everyone
    for bad in ({"view": "expanded"}, {"source": "phone"}, {"limit": "many"}):
        assert api.get("/contacts", params=bad).status_code == 400, bad
    assert api.get("/contacts/groups").json() == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"given_name": 5}, "'given_name' must be a string."),
        ({"surname": "x" * 256}, "'surname' is longer than 255 characters."),
        ({"birthday": "10/12/1815"}, "'birthday' must be a date string YYYY-MM-DD."),
        ({"birthday": "1815-02-30"}, "'birthday' must be a date string YYYY-MM-DD."),
        ({"birthday": 1815}, "'birthday' must be a date string YYYY-MM-DD."),
        ({"emails": "ada@example.org"}, "'emails' must be a list of objects."),
        ({"emails": ["ada@example.org"]}, "'emails' must be a list of objects."),
        ({"emails": [{"type": "work"}]}, "Every entry of 'emails' needs a string 'email'."),
        ({"emails": [{"email": "not an address"}]}, "Invalid email address in 'emails'"),
        ({"emails": [{"email": "ada@example.org*"}]}, "Invalid email address in 'emails'"),
        ({"phone_numbers": [{"number": "\x1c"}]}, "Every entry of 'phone_numbers' needs"),
        ({"web_pages": [{"url": "\ufeff"}]}, "Every entry of 'web_pages' needs"),
        ({"phone_numbers": [{"number": 5550100}]}, "Every entry of 'phone_numbers' needs"),
        ({"web_pages": [{"url": "https://x", "type": 3}]}, "'web_pages.type' must be a string."),
        ({"physical_addresses": [{"city": ["London"]}]}, "'physical_addresses.city' must be"),
        ({"im_addresses": {"type": "x"}}, "'im_addresses' must be a list of objects."),
        ({"source": "phone"}, "'source' must be 'address_book' or 'inbox'."),
    ],
)
def test_bad_fields_are_400(api, body, message):
    response = api.post("/contacts", json=body)
    assert response.status_code == 400
    assert response.json()["message"].startswith(message), response.json()
    assert response.json()["type"] == "invalid_request_error"


def test_bad_update_changes_nothing(api):
    ada = create(api, ADA)
    response = api.put(f"/contacts/{ada['id']}", json={"given_name": "Augusta", "birthday": "x"})
    assert response.status_code == 400
    assert api.get(f"/contacts/{ada['id']}").json() == ada


def test_picture_upload_download_and_removal(engine, api):
    ada = create(api, ADA)
    missing = api.get(f"/contacts/{ada['id']}/picture")
    assert missing.status_code == 404
    assert missing.json()["message"] == f"Contact {ada['id']} has no picture."

    image = png()
    response = api.put(f"/contacts/{ada['id']}/picture", content=image)
    assert response.status_code == 200, response.text
    with_picture = response.json()
    assert with_picture["picture_url"] == f"{engine.url}/contacts/{ada['id']}/picture"
    assert with_picture == {**ada, "picture_url": with_picture["picture_url"]}
    assert api.get(f"/contacts/{ada['id']}").json() == with_picture

    fetched = api.get(with_picture["picture_url"])
    assert fetched.status_code == 200
    assert fetched.headers["content-type"] == "image/png"
    assert fetched.content == image

    jpeg = b"\xff\xd8\xff\xe0" + b"\x00" * 64
    api.put(f"/contacts/{ada['id']}/picture", content=jpeg)
    again = api.get(f"/contacts/{ada['id']}/picture")
    assert again.headers["content-type"] == "image/jpeg" and again.content == jpeg

    removed = api.delete(f"/contacts/{ada['id']}/picture")
    assert removed.status_code == 200
    assert removed.json()["picture_url"] is None
    assert api.get(f"/contacts/{ada['id']}/picture").status_code == 404


def test_bad_pictures_are_refused(api):
    ada = create(api, ADA)
    for body in (b"", b"<svg xmlns='http://www.w3.org/2000/svg'/>", b"just text"):
        response = api.put(
            f"/contacts/{ada['id']}/picture", content=body, headers={"Content-Type": "image/png"}
        )
        assert response.status_code == 400, body
        assert response.json()["message"].startswith("The picture must be a PNG, JPEG, GIF")
    huge = png() + b"\x00" * (5 * 1024 * 1024)
    too_big = api.put(f"/contacts/{ada['id']}/picture", content=huge)
    assert too_big.status_code == 413
    assert api.get(f"/contacts/{ada['id']}").json()["picture_url"] is None


def test_pictures_are_held_to_the_upload_limit(tmp_path, new_database):
    """`--max-upload-mb` bounds contact pictures too (issue 10), below their own 5 MiB."""
    args = ["--max-upload-mb", "0.0625"]  # 64 KiB
    with LocalEngine(tmp_path, db_url=new_database(), extra_args=args) as small:
        token = small.add_account("pictures@example.com")["id"]
        with httpx.Client(base_url=small.url, auth=(token, ""), timeout=30) as client:
            ada = create(client, ADA)
            url = f"/contacts/{ada['id']}/picture"
            too_big = client.put(url, content=png() + b"\x00" * 64 * 1024)
            assert too_big.status_code == 413
            assert too_big.json() == {
                "message": f"The picture is larger than {64 * 1024} bytes.",
                "type": "api_error",
            }
            assert client.get(f"/contacts/{ada['id']}").json()["picture_url"] is None
            fits = client.put(url, content=png() + b"\x00" * 60 * 1024)
            assert fits.status_code == 200, fits.text
            assert fits.json()["picture_url"] is not None


def test_other_accounts_contacts_are_not_found(engine, api):
    other = engine.new_account()
    with engine.client(other["id"]) as theirs:
        secret = create(theirs, ADA)
        assert theirs.put(f"/contacts/{secret['id']}/picture", content=png()).status_code == 200
    cid = secret["id"]
    assert api.get(f"/contacts/{cid}").status_code == 404
    assert api.put(f"/contacts/{cid}", json={"notes": "mine"}).status_code == 404
    assert api.patch(f"/contacts/{cid}", json={"notes": "mine"}).status_code == 404
    assert api.delete(f"/contacts/{cid}").status_code == 404
    assert api.get(f"/contacts/{cid}/picture").status_code == 404
    assert api.put(f"/contacts/{cid}/picture", content=png()).status_code == 404
    assert api.delete(f"/contacts/{cid}/picture").status_code == 404
    assert api.get("/contacts", params={"email": "ada@engines.example"}).json() == []
    assert api.get("/contacts", params={"view": "count"}).json() == {"count": 0}
    with engine.client(other["id"]) as theirs:
        still = theirs.get(f"/contacts/{cid}").json()
        assert still["notes"] == ADA["notes"] and still["picture_url"] is not None


def test_filtered_pages_are_slices_of_the_filtered_list(api):
    """Filters that SQL narrows (by the stored text) and Python decides (exactly)."""
    made = [
        create(
            api,
            {
                "given_name": f"P{n}",
                "emails": [{"type": "work", "email": f"Same@Team.example{'' if n % 2 else 'x'}"}],
                "physical_addresses": [{"type": "work", "country": "N_Z" if n % 3 else "NZ"}],
            },
        )
        for n in range(7)
    ]

    def ids(**params: Any) -> list[str]:
        response = api.get("/contacts", params=params)
        assert response.status_code == 200, response.text
        return [c["id"] for c in response.json()]

    team = [c["id"] for n, c in enumerate(made) if n % 2]
    assert ids(email="same@TEAM.example") == team
    for offset in range(0, 5):
        assert ids(email="same@team.example", limit=2, offset=offset) == team[offset : offset + 2]
    assert ids(country="n_z") == [c["id"] for n, c in enumerate(made) if n % 3]
    assert ids(country="N%") == []  # LIKE's wildcards are matched as themselves
