"""The outbox (`/v2/outbox`, hosted v2's scheduled send) and `/job-statuses`, against a live
engine and a real SMTP listener: a message goes out at its `send_at` and not before (the
listener's clock says when it arrived), a cancelled one never does, an updated one goes out
as updated, transient failures are retried until `retry_limit_datetime`, jobs survive a
restart and are never sent twice, and the outcome shows in job statuses and webhooks.

The engine polls its outbox every 0.2 s here and retries after 0.5 s (doubling); waits are
for outcomes, with a generous deadline, never for a fixed time."""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from conftest import Engine
from legacy_sdk import legacy_client
from node_sdk import run_node
from smtp_listener import SmtpListener
from test_webhook_delivery import Receiver

ENV = {
    "NYLAS_ENGINE_OUTBOX_POLL": "0.2",
    "NYLAS_ENGINE_OUTBOX_RETRY": "0.5",
    "NYLAS_ENGINE_WEBHOOK_POLL": "0.1",
    "NYLAS_ENGINE_WEBHOOK_RETRY": "0.2",
}
WAIT = 30.0
TO = [{"name": "Ann", "email": "ann@example.org"}]


def wait_for(found: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := found():
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory, new_database: Any) -> Iterator[Engine]:
    # A database of its own: another engine's scheduler must not send these jobs.
    eng = Engine(tmp_path_factory.mktemp("outbox"), db_url=new_database(), env=ENV)
    eng.start()
    yield eng
    eng.close()


@pytest.fixture
def smtp() -> Iterator[SmtpListener]:
    with SmtpListener() as listener:
        yield listener


@pytest.fixture
def sender(engine: Engine, smtp: SmtpListener) -> dict[str, Any]:
    return engine.new_account(**smtp.account_fields())


@pytest.fixture
def api(engine: Engine, sender: dict[str, Any]) -> Iterator[httpx.Client]:
    with engine.client(sender["id"]) as client:
        yield client


def schedule(api: httpx.Client, **fields: Any) -> dict[str, Any]:
    body = {"to": TO, "subject": "Later", "body": "<p>Hello later</p>", **fields}
    reply = api.post("/v2/outbox", json=body)
    assert reply.status_code == 202, reply.text
    created: dict[str, Any] = reply.json()
    return created


def job_status(api: httpx.Client, job_id: str) -> dict[str, Any]:
    reply = api.get(f"/job-statuses/{job_id}")
    assert reply.status_code == 200, reply.text
    found: dict[str, Any] = reply.json()
    return found


def wait_done(api: httpx.Client, job_id: str) -> dict[str, Any]:
    """The job status once the job has an outcome (successful or failed)."""
    return wait_for(
        lambda: (s := job_status(api, job_id))["status"] in ("successful", "failed") and s,
        f"job {job_id} to finish",
    )


def test_a_scheduled_message_is_sent_at_its_time(api, sender, smtp):
    send_at = int(time.time()) + 3
    job = schedule(api, send_at=send_at, retry_limit_datetime=send_at + 60)
    assert job["status"] == "pending"
    assert job["account_id"] == sender["id"]
    assert "object" not in job  # nylas-legacy drops a reply whose object isn't its model's
    data = job["original_data"]
    assert data["subject"] == "Later" and data["to"] == TO
    assert data["send_at"] == data["original_send_at"] == send_at
    assert data["retry_limit_datetime"] == send_at + 60
    [listed] = api.get("/v2/outbox").json()
    assert listed["job_status_id"] == job["job_status_id"]

    done = wait_done(api, job["job_status_id"])
    assert done["status"] == "successful", done
    [received] = smtp.messages
    assert received.at >= send_at  # not a moment before its time
    assert received.rcpt_tos == ["ann@example.org"]
    assert received.message["Subject"] == "Later"
    assert done["object"] == "message" and done["action"] == "outbox"
    assert done["account_id"] == sender["id"]
    assert done["created_at"] <= send_at

    sent = api.get(f"/messages/{done['message_id']}").json()
    assert sent["subject"] == "Later"
    assert sent["thread_id"] == done["thread_id"]
    assert sent["folder"]["name"] == "sent"
    assert received.message["Message-Id"] is not None
    assert api.get("/v2/outbox").json()[0]["status"] == "successful"


def test_a_message_without_send_at_goes_out_now(api, smtp):
    job = schedule(api)
    assert job["original_data"]["send_at"] <= int(time.time())
    assert wait_done(api, job["job_status_id"])["status"] == "successful"
    assert len(smtp.messages) == 1


def test_a_cancelled_message_is_never_sent(api, smtp):
    send_at = int(time.time()) + 2
    cancelled = schedule(api, subject="Never", send_at=send_at)
    marker = schedule(api, subject="Marker", send_at=send_at)
    reply = api.delete(f"/v2/outbox/{cancelled['job_status_id']}")
    assert reply.status_code == 200, reply.text
    assert reply.json()["status"] == "cancelled"

    assert wait_done(api, marker["job_status_id"])["status"] == "successful"
    # The marker was due at the same moment, so the scheduler has passed the cancelled job.
    assert [r.message["Subject"] for r in smtp.messages] == ["Marker"]
    assert job_status(api, cancelled["job_status_id"])["status"] == "cancelled"
    assert [j["job_status_id"] for j in api.get("/v2/outbox").json()] == [marker["job_status_id"]]
    again = api.delete(f"/v2/outbox/{cancelled['job_status_id']}")
    assert again.status_code == 409 and "cancelled" in again.json()["message"]
    changed = api.patch(f"/v2/outbox/{cancelled['job_status_id']}", json={"subject": "Revived"})
    assert changed.status_code == 409
    assert [r.message["Subject"] for r in smtp.messages] == ["Marker"]


def test_an_updated_message_sends_the_updated_content(api, smtp):
    first = int(time.time()) + 3600
    job = schedule(api, send_at=first)
    send_at = int(time.time()) + 2
    reply = api.patch(
        f"/v2/outbox/{job['job_status_id']}",
        json={
            "subject": "Updated",
            "body": "<p>New words</p>",
            "to": [{"email": "bob@example.org"}],
            "send_at": send_at,
            "retry_limit_datetime": send_at + 30,
        },
    )
    assert reply.status_code == 200, reply.text
    updated = reply.json()
    assert updated["status"] == "pending"
    assert updated["send_at"] == send_at and updated["original_send_at"] == first
    assert updated["original_data"]["subject"] == "Updated"

    assert wait_done(api, job["job_status_id"])["status"] == "successful"
    [received] = smtp.messages
    assert received.at >= send_at
    assert received.message["Subject"] == "Updated"
    assert received.rcpt_tos == ["bob@example.org"]
    assert "New words" in received.message.get_body(("html",)).get_content()


def test_bad_input_is_a_4xx_json_error(api):
    now = int(time.time())
    bad = [
        ({"send_at": now - 3600}, "before the current time"),
        ({"send_at": now + 60, "retry_limit_datetime": now + 30}, "stop retrying before"),
        ({"retry_limit_datetime": now - 3600}, "stop retrying before"),
        ({"send_at": "soon"}, "unix timestamp"),
        ({"send_at": True}, "unix timestamp"),
        ({"send_at": -5}, "out of range"),
        ({"to": []}, "No recipients"),
        ({"to": [{"email": "not an address"}]}, "Invalid recipient"),
        ({"to": "ann@example.org"}, "Invalid to"),
        ({"file_ids": ["nosuchfile1234567890abcde"]}, ""),
    ]
    for fields, words in bad:
        reply = api.post("/v2/outbox", json={"to": TO, "subject": "Bad", **fields})
        assert reply.status_code == 400, (fields, reply.text)
        assert words in reply.json()["message"], (fields, reply.text)
        assert reply.json()["type"] == "invalid_request_error"
    assert api.get("/v2/outbox").json() == []
    assert api.post("/v2/outbox", content=b"[1]").status_code == 400

    unknown = "5qlu0dvy5vq7p3z0281isc0nj"
    for method, path in [
        ("GET", f"/v2/outbox/{unknown}"),
        ("PATCH", f"/v2/outbox/{unknown}"),
        ("DELETE", f"/v2/outbox/{unknown}"),
        ("GET", f"/job-statuses/{unknown}"),
    ]:
        reply = api.request(method, path, json={} if method == "PATCH" else None)
        assert reply.status_code == 404, (method, path, reply.text)
        assert reply.json()["message"] == f"Couldn't find job status {unknown}"
    assert api.get("/job-statuses/not-an-id!").status_code == 400

    job = schedule(api, send_at=now + 3600)
    late = api.patch(f"/v2/outbox/{job['job_status_id']}", json={"send_at": now - 3600})
    assert late.status_code == 400
    early = api.patch(f"/v2/outbox/{job['job_status_id']}", json={"retry_limit_datetime": now})
    assert early.status_code == 400
    assert api.get(f"/v2/outbox/{job['job_status_id']}").json()["send_at"] == now + 3600


def test_a_sent_job_cannot_be_changed_or_cancelled(api, smtp):
    job = schedule(api)
    assert wait_done(api, job["job_status_id"])["status"] == "successful"
    for method in ("PATCH", "DELETE"):
        reply = api.request(
            method,
            f"/v2/outbox/{job['job_status_id']}",
            json={"subject": "Too late"} if method == "PATCH" else None,
        )
        assert reply.status_code == 409, reply.text
        assert "successful" in reply.json()["message"]
    assert len(smtp.messages) == 1


def test_another_accounts_jobs_are_invisible(engine, api, smtp):
    job = schedule(api, send_at=int(time.time()) + 3600)
    job_id = job["job_status_id"]
    with engine.client(engine.new_account()["id"]) as other:
        assert other.get("/v2/outbox").json() == []
        assert other.get("/job-statuses").json() == []
        assert other.get("/job-statuses", params={"view": "count"}).json() == {"count": 0}
        for method in ("GET", "PATCH", "DELETE"):
            reply = other.request(
                method, f"/v2/outbox/{job_id}", json={"subject": "x"} if method == "PATCH" else None
            )
            assert reply.status_code == 404, reply.text
        assert other.get(f"/job-statuses/{job_id}").status_code == 404
    assert job_status(api, job_id)["status"] == "pending"
    assert api.get("/job-statuses", params={"view": "ids"}).json() == [job_id]


def test_the_outbox_needs_a_token_that_may_send(engine, sender):
    def token(scopes: str) -> str:
        issued = engine.cli("tokens", "create", sender["id"], "--scopes", scopes, "--json")
        return str(json.loads(issued)["access_token"])

    with engine.client(token("email.read_only")) as reader:
        refused = reader.post("/v2/outbox", json={"to": TO, "send_at": 4102444800})
        assert refused.status_code == 403, refused.text
        assert reader.get("/v2/outbox").status_code == 403
        assert reader.get("/job-statuses").status_code == 200
    with engine.client(token("email.send")) as sender_only:
        allowed = sender_only.post("/v2/outbox", json={"to": TO, "send_at": 4102444800})
        assert allowed.status_code == 202, allowed.text


def test_a_cancel_while_the_message_is_being_sent_is_refused(engine):
    with SmtpListener(hold="MAIL") as smtp:
        account = engine.new_account(**smtp.account_fields())
        with engine.client(account["id"]) as api:
            job = schedule(api)
            assert smtp.held.wait(WAIT)  # the engine is talking to the SMTP server
            reply = api.delete(f"/v2/outbox/{job['job_status_id']}")
            assert reply.status_code == 409, reply.text
            assert "being sent" in reply.json()["message"]
            assert api.patch(f"/v2/outbox/{job['job_status_id']}", json={}).status_code == 409
            assert job_status(api, job["job_status_id"])["status"] == "pending"
            smtp.release.set()
            assert wait_done(api, job["job_status_id"])["status"] == "successful"
            assert len(smtp.messages) == 1


def test_cancels_racing_the_scheduler_win_or_lose_never_both(api, smtp):
    """Many jobs fall due at once while a cancel of each is sent: every job ends either
    cancelled and never sent, or sent with its cancel refused (409)."""
    send_at = int(time.time()) + 2
    jobs = [schedule(api, subject=f"Race {n}", send_at=send_at)["job_status_id"] for n in range(12)]
    answers: dict[str, int] = {}

    def cancel(job_id: str) -> None:
        answers[job_id] = api.delete(f"/v2/outbox/{job_id}").status_code

    while time.time() < send_at:
        time.sleep(0.01)
    threads = [threading.Thread(target=cancel, args=(job_id,)) for job_id in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = {
        job_id: wait_for(
            lambda j=job_id: (
                (s := job_status(api, j)["status"]) in ("successful", "cancelled") and s
            ),
            f"job {job_id} to settle",
        )
        for job_id in jobs
    }
    sent = sorted(r.message["Subject"] for r in smtp.messages)
    for n, job_id in enumerate(jobs):
        if statuses[job_id] == "cancelled":
            assert answers[job_id] == 200
            assert f"Race {n}" not in sent
        else:
            assert answers[job_id] == 409
            assert sent.count(f"Race {n}") == 1
    assert len(sent) == len(set(sent)) == list(statuses.values()).count("successful")


def test_a_transient_failure_is_retried_until_it_succeeds(engine):
    with SmtpListener(mode="throttle") as smtp:
        account = engine.new_account(**smtp.account_fields())
        with engine.client(account["id"]) as api:
            now = int(time.time())
            job = schedule(api, send_at=now, retry_limit_datetime=now + 120)
            job_id = job["job_status_id"]
            retried = wait_for(
                lambda: (s := job_status(api, job_id))["metadata"].get("reason") and s,
                "a failed first try",
            )
            assert retried["status"] == "pending"
            assert "throttled" in retried["metadata"]["reason"].lower()
            smtp.mode = "ok"
            done = wait_done(api, job_id)
            assert done["status"] == "successful", done
            assert done["metadata"]["attempts"] >= 2
            assert len(smtp.messages) == 1


def test_a_transient_failure_past_the_retry_limit_fails(engine):
    with SmtpListener(mode="throttle") as smtp:
        account = engine.new_account(**smtp.account_fields())
        with engine.client(account["id"]) as api:
            now = int(time.time())
            job = schedule(api, send_at=now, retry_limit_datetime=now + 2)
            done = wait_done(api, job["job_status_id"])
            assert done["status"] == "failed"
            assert "throttled" in done["metadata"]["reason"].lower()
            assert done["metadata"]["attempts"] >= 2
            assert smtp.messages == []


def test_a_rejected_message_fails_at_once(engine):
    with SmtpListener(mode="reject_rcpt") as smtp:
        account = engine.new_account(**smtp.account_fields())
        with engine.client(account["id"]) as api:
            now = int(time.time())
            job = schedule(api, retry_limit_datetime=now + 3600)
            done = wait_done(api, job["job_status_id"])
            assert done["status"] == "failed"
            assert done["metadata"] == {"attempts": 1, "reason": done["metadata"]["reason"]}
            reason = done["metadata"]["reason"]
            assert "ann@example.org" in reason and "550" in reason
            assert smtp.messages == []


def test_a_message_some_recipients_refuse_is_sent_to_the_others(engine):
    with SmtpListener(mode="reject_some") as smtp:
        account = engine.new_account(**smtp.account_fields())
        with engine.client(account["id"]) as api:
            job = schedule(api, to=[*TO, {"email": "bad@example.org"}])
            done = wait_done(api, job["job_status_id"])
            assert done["status"] == "successful"
            assert "bad@example.org: 550" in done["metadata"]["reason"]
            [received] = smtp.messages
            assert received.rcpt_tos == ["ann@example.org"]


# --------------------------------------------------------------------------- restarts


@pytest.fixture
def own_engine(tmp_path, new_database) -> Iterator[Engine]:
    env = {**ENV, "NYLAS_ENGINE_OUTBOX_LEASE": "1"}
    eng = Engine(tmp_path / "engine", db_url=new_database(), env=env)
    yield eng
    eng.close()


def _kill_and_restart(engine: Engine) -> None:
    assert engine.process is not None
    engine.process.send_signal(signal.SIGKILL)
    engine.process.wait(10)
    engine.process = None
    engine.start()


def test_a_job_due_while_the_engine_was_down_is_sent_after_the_restart(own_engine):
    with SmtpListener() as smtp:
        own_engine.start()
        account = own_engine.new_account(**smtp.account_fields())
        send_at = int(time.time()) + 2
        with own_engine.client(account["id"]) as api:
            job = schedule(api, send_at=send_at)
        own_engine.stop()
        while time.time() < send_at + 1:
            time.sleep(0.05)
        assert smtp.messages == []  # nothing went out while the engine was down
        own_engine.start()
        with own_engine.client(account["id"]) as api:
            assert wait_done(api, job["job_status_id"])["status"] == "successful"
        [received] = smtp.messages
        assert received.at >= send_at


def test_a_job_killed_during_smtp_data_is_never_sent_again(own_engine):
    with SmtpListener(hold="DATA") as smtp:
        own_engine.start()
        account = own_engine.new_account(**smtp.account_fields())
        with own_engine.client(account["id"]) as api:
            job = schedule(api, retry_limit_datetime=int(time.time()) + 3600)
        assert smtp.held.wait(WAIT)  # the server has the message; its "250" is held
        _kill_and_restart(own_engine)
        smtp.release.set()
        with own_engine.client(account["id"]) as api:
            done = wait_done(api, job["job_status_id"])
        assert done["status"] == "failed"
        assert "may have gone out" in done["metadata"]["reason"]
        assert len(smtp.messages) == 1


def test_a_job_killed_before_smtp_data_is_sent_once_after_the_restart(own_engine):
    with SmtpListener(hold="MAIL") as smtp:
        own_engine.start()
        account = own_engine.new_account(**smtp.account_fields())
        with own_engine.client(account["id"]) as api:
            job = schedule(api, retry_limit_datetime=int(time.time()) + 3600)
        assert smtp.held.wait(WAIT)
        _kill_and_restart(own_engine)
        smtp.release.set()  # what the dead engine started goes nowhere
        with own_engine.client(account["id"]) as api:
            done = wait_done(api, job["job_status_id"])
        assert done["status"] == "successful", done
        assert len(smtp.messages) == 1


# --------------------------------------------------------------------------- webhooks


def test_the_outcome_is_announced_by_webhooks(engine, smtp):
    receiver = Receiver()
    try:
        app = engine.create_app("Outbox hooks")
        account = engine.new_account(**smtp.account_fields())
        issued = json.loads(
            engine.cli("tokens", "create", account["id"], "--app", app["client_id"], "--json")
        )
        with httpx.Client(base_url=engine.url, auth=(app["client_secret"], "")) as admin:
            hook = admin.post(
                f"/a/{app['client_id']}/webhooks",
                json={
                    "callback_url": receiver.url,
                    "triggers": ["job.successful", "job.failed", "message.created"],
                    "state": "active",
                },
            )
            assert hook.status_code == 200, hook.text
        receiver.wait_for(lambda: receiver.requests, "the challenge")
        smtp.mode = "reject_some"  # refuses addresses with "bad" in them
        with engine.client(issued["access_token"]) as api:
            good = schedule(api)
            bad = schedule(api, to=[{"email": "bad@example.org"}], subject="Refused")
            sent = wait_done(api, good["job_status_id"])
            assert wait_done(api, bad["job_status_id"])["status"] == "failed"

        success = receiver.wait_for_delta("job.successful", good["job_status_id"])
        assert success["object"] == "message"
        data = success["object_data"]
        assert data["account_id"] == account["id"]
        assert data["attributes"]["job_status_id"] == good["job_status_id"]
        assert data["attributes"]["message_id"] == sent["message_id"]
        assert data["attributes"]["thread_id"] == sent["thread_id"]
        assert data["attributes"]["action"] == "outbox"
        receiver.wait_for_delta("message.created", sent["message_id"])
        failure = receiver.wait_for_delta("job.failed", bad["job_status_id"])
        extras = failure["object_data"]["attributes"]["extras"]
        assert "bad@example.org" in extras["reason"]
        assert failure["object_data"]["attributes"]["message_id"] is None
    finally:
        receiver.close()


def test_delta_pages_pass_over_job_outcomes(api, smtp):
    cursor = api.post("/delta/latest_cursor").json()["cursor"]
    job = schedule(api)
    assert wait_done(api, job["job_status_id"])["status"] == "successful"
    deltas = api.get("/delta", params={"cursor": cursor}).json()["deltas"]
    assert {d["object"] for d in deltas} <= {"message", "thread"}
    assert any(d["object"] == "message" for d in deltas)


# --------------------------------------------------------------------------- official SDKs


def test_the_node_sdk_schedules_updates_cancels_and_reads_job_statuses(api, sender, smtp):
    # The Node SDK refuses a send time already past when it sends the update: leave room for
    # a slow Node start on a loaded machine.
    SOON = 10  # noqa: N806
    now = int(time.time())
    scheduled = run_node(
        str(api.base_url).rstrip("/"),
        sender["id"],
        """
        const Draft = require('nylas/lib/models/draft').default;
        const draft = new Draft(nylas, {subject: 'From Node', body: '<p>Hi</p>',
                                        to: [{name: 'Ann', email: 'ann@example.org'}]});
        const later = new Date(values.later * 1000);
        const limit = new Date(values.limit * 1000);
        const job = await nylas.outbox.send(draft, {sendAt: later, retryLimitDatetime: limit});
        draft.subject = 'Updated from Node';
        const updated = await nylas.outbox.update(job.jobStatusId, {
          updatedMessage: draft, sendAt: new Date(values.soon * 1000)});
        const doomed = await nylas.outbox.send(new Draft(nylas, {
          subject: 'Never', to: [{email: 'ann@example.org'}]}), {sendAt: later});
        await nylas.outbox.delete(doomed.jobStatusId);
        const statuses = await nylas.jobStatuses.list();
        return {
          job: [job.jobStatusId, job.status, job.originalData.subject,
                job.originalData.sendAt.getTime() / 1000, job.constructor.name],
          updated: [updated.status, updated.sendAt.getTime() / 1000,
                    updated.originalSendAt.getTime() / 1000, updated.originalData.subject],
          doomed: doomed.jobStatusId,
          statuses: statuses.map(s => [s.jobStatusId, s.status, s.action, s.constructor.name]),
        };
        """,
        later=now + 3600,
        limit=now + 7200,
        soon=now + SOON,
    )
    job_id, status, subject, send_at, model = scheduled["job"]
    assert (status, subject, send_at) == ("pending", "From Node", now + 3600)
    assert model == "OutboxJobStatus"
    assert scheduled["updated"] == ["pending", now + SOON, now + 3600, "Updated from Node"]
    assert scheduled["statuses"] == [
        [job_id, "pending", "outbox", "OutboxJobStatus"],
        [scheduled["doomed"], "cancelled", "outbox", "OutboxJobStatus"],
    ]

    assert wait_done(api, job_id)["status"] == "successful"
    [received] = smtp.messages
    assert received.message["Subject"] == "Updated from Node"
    assert received.at >= now + SOON
    seen = run_node(
        str(api.base_url).rstrip("/"),
        sender["id"],
        """
        const status = await nylas.jobStatuses.find(values.job);
        const message = await nylas.messages.find(status.messageId);
        return [status.isSuccessful(), status.object, message.subject];
        """,
        job=job_id,
    )
    assert seen == [True, "message", "Updated from Node"]


def test_nylas_legacy_schedules_updates_and_cancels(api, sender, smtp, pristine_read_only_attrs):
    client = legacy_client(str(api.base_url).rstrip("/"), sender["id"])
    draft = client.drafts.create()
    draft.subject = "From legacy"
    draft.to = [{"email": "ann@example.org"}]
    draft.body = "Hello from nylas-legacy"
    now = int(time.time())
    job = client.outbox.send(draft, now + 3600, retry_limit_datetime=now + 7200)
    assert job.status == "pending" and job.original_data["subject"] == "From legacy"
    draft.subject = "Updated by legacy"
    updated = client.outbox.update(job.job_status_id, draft=draft, send_at=now + 2)
    assert updated.original_data["subject"] == "Updated by legacy"
    assert updated.original_data["send_at"] == now + 2
    doomed = client.outbox.send(draft, now + 3600)
    client.outbox.delete(doomed.job_status_id)
    assert wait_done(api, job.job_status_id)["status"] == "successful"
    statuses = {s.job_status_id: s for s in client.job_statuses.all()}
    assert statuses[job.job_status_id].is_successful()
    assert statuses[doomed.job_status_id].status == "cancelled"
    assert [r.message["Subject"] for r in smtp.messages] == ["Updated by legacy"]
