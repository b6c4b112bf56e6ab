"""The engine keeps a connected mailbox in step while it runs (`nylas-engine serve` workers).

Changes are made the way they happen for real users: mail delivered over LMTP, flags and
moves made by another IMAP client. Each check polls the API until the change shows up (or a
generous deadline passes), as a client watching its inbox would.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import samples

DEADLINE = 30.0


def eventually(check: Callable[[], Any], what: str, deadline: float = DEADLINE) -> Any:
    """Poll `check` until it returns something truthy; fail with `what` if it never does."""
    end = time.monotonic() + deadline
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > end:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.2)


def _folder(api, message_id: str) -> str | None:
    """The role of the folder a message is in, as the API shows it."""
    folder = api.get(f"/messages/{message_id}").json().get("folder")
    return folder["name"] if folder else None


def _inbox(api) -> dict[str, dict[str, Any]]:
    return {m["subject"]: m for m in api.get("/messages", params={"in": "inbox"}).json()}


def test_new_mail_flags_moves_and_deletes_reach_the_api(dovecot, mailbox, sync_engine):
    user, password = mailbox
    dovecot.append(user, [samples.plain("Already there", user)])
    account = sync_engine.add_imap_account(dovecot, user, password)

    with sync_engine.client(account["id"]) as api:
        eventually(lambda: "Already there" in _inbox(api), "the first sync")
        cursor = api.post("/delta/latest_cursor").json()["cursor"]

        # New mail arrives while the engine waits in IDLE.
        dovecot.deliver(user, samples.plain("Fresh news", user, minutes=5))
        fresh = eventually(lambda: _inbox(api).get("Fresh news"), "delivered mail in the inbox")
        assert fresh["unread"] is True
        deltas = api.get("/delta", params={"cursor": cursor}).json()["deltas"]
        assert any(d["object"] == "message" and d["id"] == fresh["id"] for d in deltas)

        # Another client reads and flags it.
        with dovecot.client(user, password) as other:
            other.select_folder("INBOX")
            uid = other.search(["SUBJECT", "Fresh news"])[0]
            other.add_flags([uid], [b"\\Seen", b"\\Flagged"])
        eventually(
            lambda: (
                api.get(f"/messages/{fresh['id']}").json()["unread"] is False
                and api.get(f"/messages/{fresh['id']}").json()["starred"] is True
            ),
            "flags set by another client",
        )

        # ... moves it to the archive: the same message, now in another folder.
        with dovecot.client(user, password) as other:
            other.select_folder("INBOX")
            other.move([uid], "Archive")
        eventually(lambda: _folder(api, fresh["id"]) == "archive", "the move to Archive")
        moved = api.get(f"/messages/{fresh['id']}").json()
        assert moved["subject"] == "Fresh news"
        assert "Fresh news" not in _inbox(api)

        # ... and deletes it for good.
        with dovecot.client(user, password) as other:
            other.select_folder("Archive")
            other.delete_messages(other.search(["SUBJECT", "Fresh news"]))
            other.expunge()
        eventually(
            lambda: api.get(f"/messages/{fresh['id']}").status_code == 404, "the expunged message"
        )
        assert api.get("/messages", params={"view": "count"}).json()["count"] == 1


def _store_password(engine, account: dict[str, Any], value: str) -> None:
    """Seal `value` as the account's password, as a re-authentication through the API does
    (or as if the user changed it on the server and told the app)."""
    from nylas_engine.store.credentials import MailCredentials, Vault
    from nylas_engine.store.models import Account

    vault = Vault.for_data_dir(engine.data_dir)
    with engine.db.session() as session:
        row = session.query(Account).filter_by(public_id=account["id"]).one()
        row.credentials = vault.seal(MailCredentials(value))


def test_refused_login_sets_invalid_until_the_credentials_are_fixed(dovecot, mailbox, sync_engine):
    from nylas_engine.store.models import Account

    user, password = mailbox
    dovecot.append(user, [samples.plain("Hello", user)])
    account = sync_engine.add_imap_account(dovecot, user, password)

    with sync_engine.client(account["id"]) as api:
        eventually(lambda: api.get("/messages").json(), "the first sync")
        _store_password(sync_engine, account, "changed-on-the-server")
        # The worker logs in again with the new credentials, is refused, asks once more
        # after its retry delay and is refused again.
        me = eventually(
            lambda: (a := api.get("/account").json())["sync_state"] == "invalid" and a,
            "sync_state invalid",
        )
        assert me["id"] == account["id"]
        with sync_engine.db.session() as session:
            row = session.query(Account).filter_by(public_id=account["id"]).one()
            assert "refused the login" in (row.sync_error or "")
            assert password not in (row.sync_error or "")

        _store_password(sync_engine, account, password)
        eventually(
            lambda: api.get("/account").json()["sync_state"] == "running", "recovery to running"
        )
        assert [m["subject"] for m in api.get("/messages").json()] == ["Hello"]


def _refused_logins(dovecot, user: str) -> int:
    """How many of `user`'s logins Dovecot has refused, from its log."""
    log = (dovecot.dir / "dovecot.log").read_text(errors="replace")
    return sum(1 for line in log.splitlines() if "auth failed" in line and f"<{user}>" in line)


def test_one_refused_login_is_asked_again_before_the_account_is_invalid(
    dovecot, mailbox, tmp_path_factory
):
    """One refusal can be the server's hiccup (its password file being rewritten, its
    authentication backend overloaded): the worker asks again after its retry delay, and
    the account stays `running` (no `account.invalid` telling the app to have its user log
    in again) when the second login succeeds."""
    from sync_engines import SyncEngine

    user, password = mailbox
    dovecot.append(user, [samples.plain("Before", user)])
    engine = SyncEngine(
        tmp_path_factory.mktemp("refused-once"),
        env={
            "NYLAS_ENGINE_SYNC_POLL": "1",
            "NYLAS_ENGINE_SYNC_SCAN": "0.5",
            "NYLAS_ENGINE_SYNC_RETRY": "5",  # the time this test has to make the server agree
        },
    )
    engine.start()
    try:
        account = engine.add_imap_account(dovecot, user, password)
        with engine.client(account["id"]) as api:
            eventually(lambda: "Before" in _inbox(api), "the first sync")
            refused = _refused_logins(dovecot, user)
            _store_password(engine, account, "not-" + password)  # the server will say no
            eventually(lambda: _refused_logins(dovecot, user) > refused, "a refused login")
            _store_password(engine, account, password)  # and yes, the next time
            dovecot.append(user, [samples.plain("After", user, minutes=1)])
            states: set[str] = set()

            def synced() -> bool:
                states.add(api.get("/account").json()["sync_state"])
                return "After" in _inbox(api)

            eventually(synced, "mail after the refused login")
            assert states == {"running"}
            assert _refused_logins(dovecot, user) == refused + 1
    finally:
        engine.close()


def test_api_changes_reach_the_server(dovecot, mailbox, sync_engine):
    user, password = mailbox
    dovecot.append(
        user, [samples.plain("Read me", user), samples.plain("Keep me", user, minutes=1)]
    )
    account = sync_engine.add_imap_account(dovecot, user, password)

    def server_flags(folder: str, subject: str) -> set[bytes]:
        with dovecot.client(user, password) as other:
            other.select_folder(folder, readonly=True)
            uids = other.search(["SUBJECT", subject])
            if not uids:
                return set()
            return set(other.get_flags(uids)[uids[0]])

    with sync_engine.client(account["id"]) as api:
        inbox = eventually(lambda: len(_inbox(api)) == 2 and _inbox(api), "the first sync")
        read_me = inbox["Read me"]
        assert api.put(f"/messages/{read_me['id']}", json={"unread": False}).status_code == 200
        assert api.put(f"/messages/{read_me['id']}", json={"starred": True}).status_code == 200
        eventually(
            lambda: {b"\\Seen", b"\\Flagged"} <= server_flags("INBOX", "Read me"),
            "\\Seen and \\Flagged on the server",
        )

        archive = next(f for f in api.get("/folders").json() if f["name"] == "archive")
        keep_me = inbox["Keep me"]
        moved = api.put(f"/messages/{keep_me['id']}", json={"folder_id": archive["id"]})
        assert moved.status_code == 200
        eventually(
            lambda: _in(dovecot, user, password, "Archive", "Keep me"),
            "the message in Archive on the server",
        )
        assert not _in(dovecot, user, password, "INBOX", "Keep me")
        # The moved copy is linked back to the same message: nothing is duplicated.
        eventually(lambda: _linked(sync_engine, keep_me["id"]), "the moved copy linked")
        after = api.get(f"/messages/{keep_me['id']}").json()
        assert after["folder"]["name"] == "archive"
        assert api.get("/messages", params={"view": "count"}).json()["count"] == 2


def linked_folders(engine, message_id: str) -> list[str]:
    """The folders where the engine knows a UID of the message."""
    from nylas_engine.store.models import Category, ImapUid, Message

    with engine.db.session() as session:
        rows = (
            session.query(Category.remote_name)
            .join(ImapUid, ImapUid.category_id == Category.id)
            .join(Message, Message.id == ImapUid.message_id)
            .filter(Message.public_id == message_id)
            .all()
        )
        return sorted(r[0] for r in rows)


def _linked(engine, message_id: str, folder: str = "Archive") -> bool:
    """The engine knows the message's UID in `folder`, and in no other folder."""
    return linked_folders(engine, message_id) == [folder]


def _in(dovecot, user, password, folder, subject) -> bool:
    with dovecot.client(user, password) as other:
        other.select_folder(folder, readonly=True)
        return bool(other.search(["SUBJECT", subject]))


def test_mail_sent_through_the_api_arrives_and_is_filed_in_sent(dovecot, smtp_relay, sync_engine):
    alice, alice_password = dovecot.new_user()
    bob, bob_password = dovecot.new_user()
    account = sync_engine.add_imap_account(
        dovecot, alice, alice_password,
        "--smtp-host", smtp_relay.host, "--smtp-port", str(smtp_relay.port),
    )  # fmt: skip

    with sync_engine.client(account["id"]) as api:
        eventually(lambda: api.get("/account").json().get("sync_progress"), "the first sync")
        sent = api.post(
            "/send",
            json={"to": [{"email": bob}], "subject": "Hello Bob", "body": "<p>Hi there</p>"},
        )
        assert sent.status_code == 200, sent.text

        assert _in(dovecot, bob, bob_password, "INBOX", "Hello Bob")  # delivered
        # The server does not file sent mail itself: the engine appends it to Sent, and links
        # that copy to the message it already has.
        eventually(
            lambda: _in(dovecot, alice, alice_password, "Sent", "Hello Bob"),
            "the sent copy in the server's Sent folder",
        )
        eventually(lambda: _linked(sync_engine, sent.json()["id"], "Sent"), "the copy linked")
        in_sent = api.get("/messages", params={"in": "sent"}).json()
        assert [m["id"] for m in in_sent] == [sent.json()["id"]]


def test_folders_created_renamed_and_deleted_through_the_api(dovecot, mailbox, sync_engine):
    user, password = mailbox
    account = sync_engine.add_imap_account(dovecot, user, password)

    def server_folders() -> set[str]:
        with dovecot.client(user, password) as other:
            return {name for _, _, name in other.list_folders()}

    with sync_engine.client(account["id"]) as api:
        eventually(lambda: api.get("/account").json().get("sync_progress"), "the first sync")
        created = api.post("/folders", json={"display_name": "Receipts"})
        assert created.status_code == 200, created.text
        eventually(lambda: "Receipts" in server_folders(), "CREATE on the server")

        renamed = api.put(f"/folders/{created.json()['id']}", json={"display_name": "Invoices"})
        assert renamed.status_code == 200, renamed.text
        eventually(
            lambda: "Invoices" in server_folders() and "Receipts" not in server_folders(),
            "RENAME on the server",
        )

        # A folder made by another client shows up, and mail filed there with it.
        with dovecot.client(user, password) as other:
            other.create_folder("Travel")
        dovecot.append(user, [samples.plain("Boarding pass", user)], folder="Travel")
        travel = eventually(
            lambda: next(
                (f for f in api.get("/folders").json() if f["display_name"] == "Travel"), None
            ),
            "the server's new folder in the API",
        )
        eventually(
            lambda: (
                [m["subject"] for m in api.get("/messages", params={"in": travel["id"]}).json()]
                == ["Boarding pass"]
            ),
            "the message in the new folder",
        )

        assert api.delete(f"/folders/{created.json()['id']}").status_code == 200
        eventually(lambda: "Invoices" not in server_folders(), "DELETE on the server")
        names = {f["display_name"] for f in api.get("/folders").json()}
        assert "Invoices" not in names and "Travel" in names


def test_server_outage_sets_connerror_then_sync_resumes(sync_engine):
    from dovecot import Dovecot

    server = Dovecot().start()  # its own server, so the outage hurts no other test
    try:
        user, password = server.new_user()
        server.append(user, [samples.plain("Before the outage", user)])
        account = sync_engine.add_imap_account(server, user, password)
        with sync_engine.client(account["id"]) as api:
            eventually(lambda: _inbox(api), "the first sync")

            server.stop(keep=True)
            eventually(
                lambda: api.get("/account").json()["sync_state"] == "connerror",
                "sync_state connerror",
            )
            server.start()
            eventually(
                lambda: api.get("/account").json()["sync_state"] == "running",
                "running again",
                deadline=60,
            )
            server.deliver(user, samples.plain("After the outage", user, minutes=1))
            eventually(lambda: "After the outage" in _inbox(api), "mail after the outage")
    finally:
        server.stop()


def test_drafts_are_saved_to_the_drafts_folder_and_replaced_on_update(
    dovecot, smtp_relay, sync_engine
):
    user, password = dovecot.new_user()
    bob, _ = dovecot.new_user()
    account = sync_engine.add_imap_account(
        dovecot, user, password,
        "--smtp-host", smtp_relay.host, "--smtp-port", str(smtp_relay.port),
    )  # fmt: skip

    def drafts_on_server() -> list[str]:
        with dovecot.client(user, password) as other:
            other.select_folder("Drafts", readonly=True)
            uids = other.search("ALL")
            fetched = other.fetch(uids, ["ENVELOPE", "FLAGS"]) if uids else {}
            return sorted(
                (data[b"ENVELOPE"].subject or b"").decode()
                for data in fetched.values()
                if b"\\Draft" in data[b"FLAGS"]
            )

    with sync_engine.client(account["id"]) as api:
        eventually(lambda: api.get("/account").json().get("sync_progress"), "the first sync")
        draft = api.post("/drafts", json={"subject": "Plan v1", "to": [{"email": bob}]}).json()
        eventually(lambda: drafts_on_server() == ["Plan v1"], "the draft in Drafts")

        updated = api.put(
            f"/drafts/{draft['id']}", json={"subject": "Plan v2", "version": draft["version"]}
        )
        assert updated.status_code == 200, updated.text
        eventually(lambda: drafts_on_server() == ["Plan v2"], "the draft replaced")
        eventually(lambda: _linked(sync_engine, draft["id"], "Drafts"), "the copy linked")
        # Still one draft in the API: the server copy is linked to it, not imported twice.
        assert [d["subject"] for d in api.get("/drafts").json()] == ["Plan v2"]
        in_drafts = api.get("/messages", params={"in": "drafts"}).json()
        assert in_drafts == []

        sent = api.post(
            "/send", json={"draft_id": draft["id"], "version": updated.json()["version"]}
        )
        assert sent.status_code == 200, sent.text
        eventually(lambda: drafts_on_server() == [], "the sent draft gone from Drafts")


def test_a_move_out_of_the_inbox_shows_without_waiting_for_the_poll(
    dovecot, mailbox, tmp_path_factory
):
    from sync_engines import SyncEngine

    engine = SyncEngine(
        tmp_path_factory.mktemp("slow-poll"),
        env={"NYLAS_ENGINE_SYNC_POLL": "600", "NYLAS_ENGINE_SYNC_SCAN": "0.5"},
    )
    engine.start()
    try:
        user, password = mailbox
        dovecot.append(user, [samples.plain("Move me", user)])
        account = engine.add_imap_account(dovecot, user, password)
        with engine.client(account["id"]) as api:
            message = eventually(lambda: _inbox(api).get("Move me"), "the first sync")
            with dovecot.client(user, password) as other:
                other.select_folder("INBOX")
                other.move(other.search(["SUBJECT", "Move me"]), "Archive")
            # IDLE reports the expunge; the worker then looks through every folder at once.
            eventually(lambda: _folder(api, message["id"]) == "archive", "the move to Archive")
    finally:
        engine.close()
