"""The test Dovecot itself: what the sync tests rely on really works."""

from email.message import EmailMessage


def simple_message(subject: str, to: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Ann Sender <ann@example.org>"
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content(f"Body of {subject}\n")
    return bytes(msg)


def test_login_append_and_search(dovecot, mailbox):
    user, password = mailbox
    uids = dovecot.append(user, [simple_message("first", user), simple_message("second", user)])
    assert len(uids) == 2

    with dovecot.client(user, password) as imap:
        caps = set(imap.capabilities())
        assert {b"IDLE", b"CONDSTORE", b"QRESYNC", b"MOVE", b"UIDPLUS", b"SPECIAL-USE"} <= caps
        imap.select_folder("INBOX")
        assert imap.search(["SUBJECT", "second"]) == [uids[1]]
        roles = {name: flags for flags, _, name in imap.list_folders()}
        assert b"\\Sent" in roles["Sent"] and b"\\Trash" in roles["Trash"]


def test_lmtp_delivery_lands_in_inbox(dovecot, mailbox):
    user, password = mailbox
    dovecot.deliver(user, simple_message("via lmtp", user))
    with dovecot.client(user, password) as imap:
        imap.select_folder("INBOX", readonly=True)
        uids = imap.search(["SUBJECT", "via lmtp"])
        assert len(uids) == 1
        fetched = imap.fetch(uids, ["FLAGS"])
        assert b"\\Seen" not in fetched[uids[0]][b"FLAGS"]


def test_users_are_isolated(dovecot):
    alice, _ = dovecot.new_user()
    bob, _ = dovecot.new_user()
    dovecot.append(alice, [simple_message("for alice", alice)])
    with dovecot.client(bob) as imap:
        assert imap.select_folder("INBOX")[b"EXISTS"] == 0
