"""A thread's `version` grows by one per change (docs/protocol.md §6), however many messages
changed."""

from mailfactory import Mailbox


def test_marking_a_two_message_thread_read_bumps_version_once(engine, account, api):
    box = Mailbox(engine, account)
    first = box.add("Version check")
    box.add("Re: Version check", reply_to=first)
    before = api.get(f"/threads/{first['thread_id']}").json()
    assert len(before["message_ids"]) == 2

    after = api.put(f"/threads/{first['thread_id']}", json={"unread": False}).json()
    assert after["unread"] is False
    assert after["version"] == before["version"] + 1

    again = api.put(f"/threads/{first['thread_id']}", json={"starred": True}).json()
    assert again["version"] == before["version"] + 2
