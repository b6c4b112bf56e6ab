"""Commands the server refuses (NO or BAD) are the failure of that one operation.

The account stays `running`, new mail keeps arriving, and the other changes go through;
the refused change is tried a few times, then dropped and undone, so the API shows what the
server has (clients see the undo in the delta feed). Refusals come from a real Dovecot: a
folder name it rejects, and access rights (RFC 4314 ACLs) that forbid moving mail out of a
folder, renaming it or deleting it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import samples
from dovecot import Dovecot
from test_live_sync import eventually
from test_namespaces import _folder_names, _inbox_subjects, _server_folders

DROPPED = 60.0  # seconds to wait for the retries (about 15 s) to run out


@pytest.fixture(scope="module")
def strict_dovecot() -> Iterator[Dovecot]:
    """The owner may read and add mail in Locked but not remove any or rename it (lrsi),
    and may only read Sealed (lrs: no delete)."""
    server = Dovecot(acl="Locked owner lrsi\nSealed owner lrs\n").start()
    yield server
    server.stop()


def _account_state(engine, account_id: str) -> tuple[str, str | None]:
    from nylas_engine.store.models import Account

    with engine.db.session() as session:
        row = session.query(Account).filter_by(public_id=account_id).one()
        return row.sync_state, row.sync_error


def test_a_folder_the_server_refuses_is_dropped_and_sync_goes_on(dovecot, sync_engine):
    user, password = dovecot.new_user()
    account = sync_engine.add_imap_account(dovecot, user, password)

    with sync_engine.client(account["id"]) as api:
        eventually(lambda: api.get("/account").json().get("sync_progress"), "the first sync")
        cursor = api.post("/delta/latest_cursor").json()["cursor"]
        # Dovecot refuses names that begin with "~" ([CANNOT] Invalid mailbox name).
        refused = api.post("/folders", json={"display_name": "~Secret"})
        assert refused.status_code == 200, refused.text
        kept = api.post("/folders", json={"display_name": "Kept"})

        # Other work is not held up: the next folder is created, mail keeps arriving.
        eventually(lambda: "Kept" in _server_folders(dovecot, user, password), "CREATE of Kept")
        dovecot.deliver(user, samples.plain("Mail during the refusals", user))
        eventually(lambda: "Mail during the refusals" in _inbox_subjects(api), "new inbox mail")
        assert api.get("/account").json()["sync_state"] == "running"

        # Tried a few times, then dropped: the folder goes away in the API, as the delta
        # feed tells clients.
        eventually(
            lambda: "~Secret" not in _folder_names(api), "the refused folder dropped", DROPPED
        )
        deltas = api.get(
            "/delta", params={"cursor": cursor, "exclude_folders": "false", "limit": 1000}
        ).json()["deltas"]
        assert {"event": "delete", "id": refused.json()["id"]} in [
            {"event": d["event"], "id": d["id"]} for d in deltas
        ]
        assert "~Secret" not in _server_folders(dovecot, user, password)
        assert api.get(f"/folders/{kept.json()['id']}").json()["display_name"] == "Kept"
        assert api.get("/account").json()["sync_state"] == "running"
        assert _account_state(sync_engine, account["id"]) == ("running", None)


def test_moves_renames_and_deletes_the_server_forbids_are_undone(strict_dovecot, sync_engine):
    server = strict_dovecot
    user, password = server.new_user()
    with server.client(user, password) as other:
        other.create_folder("Locked")
        other.create_folder("Sealed")
    server.append(user, [samples.plain("Stuck here", user)], folder="Locked")
    account = sync_engine.add_imap_account(server, user, password)

    with sync_engine.client(account["id"]) as api:
        stuck = eventually(lambda: api.get("/messages").json(), "the first sync")[0]
        assert stuck["folder"]["display_name"] == "Locked"
        folders = {f["display_name"]: f for f in api.get("/folders").json()}
        cursor = api.post("/delta/latest_cursor").json()["cursor"]

        moved = api.put(f"/messages/{stuck['id']}", json={"folder_id": folders["Archive"]["id"]})
        assert moved.status_code == 200, moved.text
        renamed = api.put(f"/folders/{folders['Locked']['id']}", json={"display_name": "Open"})
        assert renamed.status_code == 200, renamed.text
        assert api.delete(f"/folders/{folders['Sealed']['id']}").status_code == 200

        # The account keeps syncing meanwhile.
        server.deliver(user, samples.plain("Arrives anyway", user, minutes=1))
        eventually(lambda: "Arrives anyway" in _inbox_subjects(api), "new inbox mail")
        assert _account_state(sync_engine, account["id"]) == ("running", None)

        # Retried, then undone: the API shows the server's state again.
        eventually(
            lambda: (
                api.get(f"/messages/{stuck['id']}").json()["folder"]["display_name"] == "Locked"
            ),
            "the refused move undone",
            DROPPED,
        )
        eventually(
            lambda: (
                {"Locked", "Sealed"} <= _folder_names(api).keys()
                and "Open" not in _folder_names(api)
            ),
            "the refused rename and delete undone",
            DROPPED,
        )
        assert {"Locked", "Sealed"} <= _server_folders(server, user, password)
        with server.client(user, password) as other:
            other.select_folder("Locked", readonly=True)
            assert other.search(["SUBJECT", "Stuck here"])
        deltas = api.get(
            "/delta", params={"cursor": cursor, "exclude_folders": "false", "limit": 1000}
        ).json()["deltas"]
        events = [(d["event"], d["id"]) for d in deltas]
        assert ("modify", folders["Sealed"]["id"]) in events  # back after its delete
        assert ("modify", stuck["id"]) in events
        assert _account_state(sync_engine, account["id"]) == ("running", None)
