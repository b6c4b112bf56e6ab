"""Delivering webhook notifications from `nylas-engine serve` (docs/protocol.md §16.4).

As soon as this process commits a change (delta/log.py `on_commit`), and every
`NYLAS_ENGINE_WEBHOOK_POLL` seconds (default 0.5) for what other processes commit, each active
webhook with work is handed to one of 8 sender threads, so a receiver slow to answer (it has
`NYLAS_ENGINE_WEBHOOK_TIMEOUT` seconds, default 10) holds up only its own notifications:
* a webhook not yet verified is sent `GET <callback_url>?challenge=<random>` and must answer
  200 with the challenge as its body; nothing is delivered to it before that;
* then `POST <callback_url>` with `{"deltas": [...]}` (up to 100 per request) and
  `X-Nylas-Signature`, the hex HMAC-SHA256 of the body keyed with the app's client secret.

A 2xx answer moves the webhook's cursors past what it carried; anything else (an error status,
a timeout, a refused connection) leaves them where they were, and the same changes are sent
again after a delay that doubles from `NYLAS_ENGINE_WEBHOOK_RETRY` seconds (default 5) up to
five minutes, so a receiver that is down loses nothing. Delivery is at least once: a receiver
that answered too late may see a notification twice. An inactive webhook is not served;
turning it back on starts it afresh (`store.webhooks.start_cursors`), so what happened while
it was off is not sent.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import logging
import os
import secrets
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

import httpx
from sqlalchemy import select, update

from nylas_engine.config import env_number
from nylas_engine.context import EngineContext
from nylas_engine.delta.log import on_commit
from nylas_engine.store.credentials import CredentialsError
from nylas_engine.store.leases import Lease, LeaseLost, fenced
from nylas_engine.store.models import App, Webhook, now
from nylas_engine.store.webhooks import save_cursors
from nylas_engine.webhooks.notify import next_batch

log = logging.getLogger("nylas_engine.webhooks")

POLL_ENV, DEFAULT_POLL = "NYLAS_ENGINE_WEBHOOK_POLL", 0.5
RETRY_ENV, DEFAULT_RETRY = "NYLAS_ENGINE_WEBHOOK_RETRY", 5.0
RETRY_MAX = 300.0
TIMEOUT_ENV, DEFAULT_TIMEOUT = "NYLAS_ENGINE_WEBHOOK_TIMEOUT", 10.0  # for a receiver's answer
SENDERS = 8  # webhooks served at once
BATCHES_PER_TURN = 20  # a webhook with a backlog lets the poll look again after this many
TURN_GAP = 0.05  # seconds between turns however fast commits come
DRAIN = 5.0  # seconds a stop waits for the notifications being sent to be answered


class DeliveryFailed(Exception):
    """The receiver did not take the notification (or the challenge); said in the log."""


def sign(body: bytes, client_secret: str) -> str:
    return hmac.new(client_secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookService(threading.Thread):
    """Looks for work when this process commits a change, and every `poll` seconds, and
    hands each webhook that has some to a pool thread, one at a time per webhook: a receiver
    that is slow to answer holds up only its own notifications."""

    def __init__(self, ctx: EngineContext, lease: Lease | None = None) -> None:
        super().__init__(name="webhooks", daemon=True)
        self.ctx = ctx
        # In a fleet (fleet.py), the job lease delivery runs under: once it is taken over,
        # the cursors of this deliverer are no longer saved (store/leases.py, fencing).
        self.lease = lease
        self.poll = env_number(POLL_ENV, DEFAULT_POLL)
        self.retry = env_number(RETRY_ENV, DEFAULT_RETRY)
        self.stopping = threading.Event()
        self.changed = threading.Event()  # set by this process's commits of changes
        self.http = httpx.Client(
            timeout=env_number(TIMEOUT_ENV, DEFAULT_TIMEOUT),
            follow_redirects=False,
            headers={"User-Agent": "nylas-engine webhooks"},
            limits=httpx.Limits(max_connections=SENDERS),
        )
        self.pool = ThreadPoolExecutor(SENDERS, thread_name_prefix="webhook")
        self._busy: set[int] = set()  # the webhooks a pool thread serves now
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)  # notified when one is done
        self._failures: dict[int, int] = {}
        self._retry_at: dict[int, float] = {}

    def stop(self) -> None:
        """Start nothing more, and wait (DRAIN seconds at most) for the notifications being
        sent to be answered and recorded: a receiver that got one must not get it again
        from the next start (the process exits right after, ending these threads)."""
        self._halt()
        if self.is_alive():
            self.join(DRAIN + 1)  # `run` ends once they are (or DRAIN has passed)

    def _halt(self) -> None:
        self.stopping.set()
        self.changed.set()

    def run(self) -> None:
        stop_hearing = on_commit(lambda _account_id: self.changed.set())
        self.changed.set()  # a first turn at once: changes may wait from before the start
        try:
            while not self.stopping.is_set():
                self.changed.wait(self.poll)
                self.changed.clear()  # before the turn: a commit during it sets it again
                if self.stopping.is_set():
                    break
                try:
                    self.turn()
                except Exception:  # a bug or a database hiccup must not end delivery
                    log.exception("webhook delivery failed")
                self.stopping.wait(TURN_GAP)
        finally:
            stop_hearing()
            self.pool.shutdown(wait=False, cancel_futures=True)  # those not started
            with self._lock:  # the client stays open for those being sent
                self._idle.wait_for(lambda: not self._busy, DRAIN)
            self.http.close()

    def turn(self) -> None:
        """Hand every active webhook that is neither being served nor waiting to retry to
        the pool."""
        with self.ctx.db.session() as session:
            ids = list(
                session.scalars(
                    select(Webhook.id).where(Webhook.state == "active").order_by(Webhook.id)
                )
            )
        now_ = time.monotonic()
        for webhook_id in ids:
            with self._lock:
                if webhook_id in self._busy or now_ < self._retry_at.get(webhook_id, 0.0):
                    continue
                self._busy.add(webhook_id)
            future = self.pool.submit(self._serve, webhook_id)
            future.add_done_callback(functools.partial(self._dropped, webhook_id))

    def _dropped(self, webhook_id: int, future: Future[None]) -> None:
        if future.cancelled():  # never started (a stop): `_serve` did not say it is done
            with self._lock:
                self._busy.discard(webhook_id)
                self._idle.notify_all()

    def _serve(self, webhook_id: int) -> None:
        with fenced(self.lease):
            self._serve_fenced(webhook_id)

    def _serve_fenced(self, webhook_id: int) -> None:
        try:
            for _ in range(BATCHES_PER_TURN):
                if self.stopping.is_set() or not self._deliver(webhook_id):
                    break
        except DeliveryFailed as exc:
            self._failed(webhook_id, str(exc))
        except LeaseLost:  # another worker delivers now, from the cursors saved so far
            log.warning("webhook %s: the delivery job was taken over", webhook_id)
            self._halt()
        except Exception:
            log.exception("webhook %s: delivery failed", webhook_id)
            self._failed(webhook_id, "an error in the engine (logged above)")
        else:
            self._failures.pop(webhook_id, None)
            self._retry_at.pop(webhook_id, None)
        finally:
            with self._lock:
                self._busy.discard(webhook_id)
                self._idle.notify_all()

    def _deliver(self, webhook_id: int) -> bool:
        """Send this webhook's next notification; True when more is waiting. No database
        transaction stays open while a receiver is being waited for."""
        with self.ctx.db.session() as session:
            webhook = session.get(Webhook, webhook_id)
            if webhook is None:
                return False
            url, active = webhook.callback_url, webhook.state == "active"
            unverified = active and webhook.verified_at is None
        if unverified:
            self._challenge(url)
            with self.ctx.db.session() as session:
                session.execute(
                    update(Webhook).where(Webhook.id == webhook_id).values(verified_at=now())
                )
        with self.ctx.db.session() as session:
            webhook = session.get(Webhook, webhook_id)
            if webhook is None:
                return False
            batch = next_batch(session, webhook)
            app = session.get(App, webhook.app_id)
            sealed = app.sealed_secret if app is not None else None
        if active and batch.deltas:
            self._post(url, sealed, batch.deltas)
        if batch.moves:
            with self.ctx.db.session() as session:
                save_cursors(session, webhook_id, batch.moves)
        return batch.full

    def _challenge(self, url: str) -> None:
        challenge = secrets.token_urlsafe(16)
        try:
            response = self.http.get(url, params={"challenge": challenge})
        except httpx.HTTPError as exc:
            raise DeliveryFailed(f"challenge to {url} failed: {exc!r}") from exc
        if response.status_code != 200 or response.text.strip() != challenge:
            raise DeliveryFailed(
                f"{url} did not echo the challenge (HTTP {response.status_code}); "
                "nothing is delivered until it does"
            )

    def _post(self, url: str, sealed: bytes | None, deltas: list[dict[str, object]]) -> None:
        if sealed is None:
            raise DeliveryFailed(
                "the app's client secret is not known to this engine yet (the app predates "
                "webhook delivery): any request to /a/{client_id}/... with the secret fixes it"
            )
        try:
            secret = self.ctx.vault.open_text(sealed, "client secret")
        except CredentialsError as exc:
            raise DeliveryFailed(str(exc)) from exc
        body = json.dumps({"deltas": deltas}, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", "X-Nylas-Signature": sign(body, secret)}
        try:
            response = self.http.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise DeliveryFailed(f"POST {url} failed: {exc!r}") from exc
        if not response.is_success:
            raise DeliveryFailed(f"POST {url} answered HTTP {response.status_code}")

    def _failed(self, webhook_id: int, reason: str) -> None:
        failures = self._failures.get(webhook_id, 0) + 1
        self._failures[webhook_id] = failures
        delay = min(self.retry * 2 ** (failures - 1), RETRY_MAX)
        self._retry_at[webhook_id] = time.monotonic() + delay
        log.warning("webhook %s: %s; retrying in %.0f s", webhook_id, reason, delay)


def start_webhooks(ctx: EngineContext, lease: Lease | None = None) -> WebhookService | None:
    """Delivery in a thread of `serve` (off: NYLAS_ENGINE_WEBHOOKS=0)."""
    if os.environ.get("NYLAS_ENGINE_WEBHOOKS", "1") == "0":
        return None
    service = WebhookService(ctx, lease)
    service.start()
    return service
