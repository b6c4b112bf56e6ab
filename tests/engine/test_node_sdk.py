"""The official Node.js SDK 6.x reading what the engine holds (tests/node_sdk.py)."""

from __future__ import annotations

from typing import Any

import pytest
from mailfactory import Mailbox
from node_sdk import NodeError, run_node

T0 = 1_600_000_000


def test_threads_messages_and_folders(engine: Any, account: dict[str, Any]) -> None:
    box = Mailbox(engine, account)
    first = box.add("Plans", from_="Ann <ann@x.com>", date=T0 + 10)
    reply = box.add("Re: Plans", from_="bob@x.com", date=T0 + 20, reply_to=first)
    seen = run_node(
        engine.url,
        account["id"],
        """
        const threads = await nylas.threads.list({in: 'inbox'});
        const message = await nylas.messages.find(values.reply);
        const folders = await nylas.folders.list();
        return {threads: threads.map(t => [t.id, t.subject, t.messageIds]),
                from: message.from.map(p => p.email),
                folders: folders.map(f => f.name).sort()};
        """,
        reply=reply["id"],
    )
    assert seen["threads"] == [[first["thread_id"], "Plans", [first["id"], reply["id"]]]]
    assert seen["from"] == ["bob@x.com"]
    assert "inbox" in seen["folders"]


def test_an_unknown_id_is_the_sdks_404(engine: Any, account: dict[str, Any]) -> None:
    with pytest.raises(NodeError, match="404"):
        run_node(engine.url, account["id"], "return await nylas.messages.find('nope');")
