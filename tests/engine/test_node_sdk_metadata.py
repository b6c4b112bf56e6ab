"""The official Node.js SDK 6.x with hosted v2's metadata, its filters, findMultiple and
deltas.since with includeTypes, against a live engine (tests/node_sdk.py)."""

from __future__ import annotations

from typing import Any

from mailfactory import Mailbox
from node_sdk import run_node
from test_metadata import new_app

T0 = 1_600_000_000


def test_message_metadata_filters_and_find_multiple(engine: Any, account: dict[str, Any]) -> None:
    box = Mailbox(engine, account)
    first = box.add("Order 42", date=T0 + 10)
    second = box.add("Lunch", date=T0 + 20)
    seen = run_node(
        engine.url,
        account["id"],
        """
        const message = await nylas.messages.find(values.first);
        message.metadata = {order: '42', stage: 'won'};
        await message.save();
        const again = await nylas.messages.find(values.first);
        const paired = await nylas.messages.list({metadata_pair: {order: '42'}});
        const keyed = await nylas.messages.list({metadata_key: 'stage'});
        const none = await nylas.messages.list({metadata_pair: {order: '43'}});
        const threads = await nylas.threads.list({metadata_value: 'won'});
        const several = await nylas.messages.findMultiple([values.second, values.first]);
        return {metadata: again.metadata,
                paired: paired.map(m => m.id), keyed: keyed.map(m => m.id),
                none: none.length, threads: threads.map(t => t.id),
                several: several.map(m => [m.id, m.subject])};
        """,
        first=first["id"],
        second=second["id"],
    )
    assert seen["metadata"] == {"order": "42", "stage": "won"}
    assert seen["paired"] == [first["id"]]
    assert seen["keyed"] == [first["id"]]
    assert seen["none"] == 0
    assert seen["threads"] == [first["thread_id"]]
    assert seen["several"] == [[second["id"], "Lunch"], [first["id"], "Order 42"]]


def test_event_and_calendar_metadata(engine: Any, account: dict[str, Any]) -> None:
    seen = run_node(
        engine.url,
        account["id"],
        """
        const calendar = nylas.calendars.build({name: 'Sales', metadata: {team: 'emea'}});
        await calendar.save();
        const event = nylas.events.build({
          calendarId: calendar.id, title: 'Demo',
          when: {start_time: values.start, end_time: values.start + 3600},
          metadata: {kind: 'demo'}});
        await event.save();
        const plain = nylas.events.build({
          calendarId: calendar.id, title: 'Other',
          when: {start_time: values.start, end_time: values.start + 3600}});
        await plain.save();
        const events = await nylas.events.list({metadata_pair: {kind: 'demo'}});
        const calendars = await nylas.calendars.list({metadata_key: 'team'});
        event.metadata = {kind: 'call'};
        await event.save();
        const after = await nylas.events.list({metadata_pair: {kind: 'call'}});
        return {events: events.map(e => [e.id, e.metadata]),
                calendars: calendars.map(c => [c.id, c.metadata]),
                after: after.map(e => e.id), ids: [event.id, calendar.id]};
        """,
        start=T0 + 86400,
    )
    event_id, calendar_id = seen["ids"]
    assert seen["events"] == [[event_id, {"kind": "demo"}]]
    assert seen["calendars"] == [[calendar_id, {"team": "emea"}]]
    assert seen["after"] == [event_id]


def test_deltas_since_with_include_types(engine: Any, account: dict[str, Any]) -> None:
    message = Mailbox(engine, account).add("Hello", date=T0 + 10)
    seen = run_node(
        engine.url,
        account["id"],
        """
        const all = await nylas.deltas.since('0');
        const messages = await nylas.deltas.since('0', {includeTypes: ['message']});
        const others = await nylas.deltas.since('0', {excludeTypes: ['message']});
        return {all: [...new Set(all.deltas.map(d => d.object))].sort(),
                messages: messages.deltas.map(d => [d.object, d.objectAttributes.id]),
                others: [...new Set(others.deltas.map(d => d.object))].sort()};
        """,
    )
    assert "message" in seen["all"] and "thread" in seen["all"]
    assert seen["messages"] == [["message", message["id"]]]
    assert "message" not in seen["others"] and "thread" in seen["others"]


def test_account_metadata_through_the_management_api(engine: Any, account: dict[str, Any]) -> None:
    client_id, secret = new_app(engine, account, "Node app")
    seen = run_node(
        engine.url,
        account["id"],  # unused: Nylas.accounts speaks with the app's secret
        """
        const account = await Nylas.accounts.find(values.account);
        account.metadata = {plan: 'pro'};
        await account.save();
        const found = await Nylas.accounts.list({metadata_pair: {plan: 'pro'}});
        const missing = await Nylas.accounts.list({metadata_pair: {plan: 'free'}});
        return {found: found.map(a => [a.id, a.metadata]), missing: missing.length};
        """,
        client_id=client_id,
        client_secret=secret,
        account=account["id"],
    )
    assert seen["found"] == [[account["id"], {"plan": "pro"}]]
    assert seen["missing"] == 0
