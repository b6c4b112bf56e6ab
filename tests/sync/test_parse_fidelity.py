"""What a synced message shows when its headers or parts are unusual (issue 12): addresses
without a domain and the null address `<>` as the server has them, and text parts carrying
a filename that are the message's only body."""

from __future__ import annotations


def _crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode("ascii")


LOCAL_SENDER = _crlf(
    """From: foo
To: bar
Subject: Local mail
Message-ID: <local@example.org>
Date: Wed, 01 May 2024 09:00:00 +0000

From a user on this host.
"""
)
BOUNCE = _crlf(
    """From: MAILER DAEMON <>
To: <>
Subject: Undeliverable
Message-ID: <bounce@example.org>
Date: Wed, 01 May 2024 09:01:00 +0000

Your message could not be delivered.
"""
)


def _named_text(subject: str, disposition: str) -> bytes:
    return _crlf(
        f"""From: Barry <barry@example.org>
Subject: {subject}
Message-ID: <{subject.replace(" ", "-")}@example.org>
Date: Wed, 01 May 2024 09:02:00 +0000
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="h90VIIIKmx"

--h90VIIIKmx
Content-Type: text/plain; name="msg.txt"
{disposition}
a simple kind of mirror
--h90VIIIKmx
Content-Type: text/plain; name="more.txt"
{disposition}
to reflect upon our own
--h90VIIIKmx--
"""
    )


def test_unusual_addresses_and_named_text_bodies_arrive_as_mail_clients_show_them(
    dovecot, mailbox, offline_engine
):
    user, password = mailbox
    dovecot.append(
        user,
        [
            LOCAL_SENDER,
            BOUNCE,
            _named_text("Named parts", ""),
            _named_text("Inline named parts", 'Content-Disposition: inline; filename="x.txt"\n'),
            _named_text("Attached text", "Content-Disposition: attachment\n"),
        ],
    )
    account = offline_engine.add_imap_account(dovecot, user, password)
    offline_engine.cli("sync", account["id"], "--once", "--json")

    with offline_engine.client(account["id"]) as api:
        by_subject = {m["subject"]: m for m in api.get("/messages").json()}
        local = by_subject["Local mail"]
        assert local["from"] == [{"name": "", "email": "foo"}]
        assert local["to"] == [{"name": "", "email": "bar"}]
        bounce = by_subject["Undeliverable"]
        assert bounce["from"] == [{"name": "MAILER DAEMON", "email": ""}]
        assert bounce["to"] == [{"name": "", "email": ""}]

        for subject in ("Named parts", "Inline named parts"):
            message = api.get(f"/messages/{by_subject[subject]['id']}").json()
            assert "a simple kind of mirror" in message["body"]
            assert "to reflect upon our own" in message["body"]
            assert message["snippet"] == "a simple kind of mirror to reflect upon our own"
            assert message["files"] == []

        attached = api.get(f"/messages/{by_subject['Attached text']['id']}").json()
        assert "a simple kind of mirror" in attached["body"]
        assert sorted(f["filename"] for f in attached["files"]) == ["more.txt", "msg.txt"]
        file_id = next(f["id"] for f in attached["files"] if f["filename"] == "msg.txt")
        assert api.get(f"/files/{file_id}/download").content == b"a simple kind of mirror"

        # Search finds the text of a body that came from named parts.
        found = api.get("/messages/search", params={"q": "mirror"}).json()
        assert {m["subject"] for m in found} == {
            "Named parts",
            "Inline named parts",
            "Attached text",
        }
