"""Receiving webhook notifications from a local engine, each one's signature checked.

    pip install flask
    nylas-engine apps create --name "Webhooks example"       # prints the id and secret below
    nylas-engine tokens create me@example.com --app CLIENT_ID   # the app's account
    nylas-engine serve --auth token
    NYLAS_APP_ID=... NYLAS_APP_SECRET=... python examples/flask_webhooks.py

It registers http://127.0.0.1:8889/webhook for new messages and contacts, answers the
engine's challenge, and prints every notification whose X-Nylas-Signature checks out.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from flask import Flask, abort, request

import nylas
from nylas import APIClient

APP_ID = os.environ.get("NYLAS_APP_ID", "")
APP_SECRET = os.environ.get("NYLAS_APP_SECRET", "")
API_SERVER = os.environ.get("NYLAS_API_SERVER", "http://127.0.0.1:5555/")
CALLBACK = os.environ.get("NYLAS_WEBHOOK_URL", "http://127.0.0.1:8889/webhook")
TRIGGERS = ["message.created", "contact.created", "account.connected"]

app = Flask(__name__)
received: list[dict[str, Any]] = []  # every notification taken, oldest first


@app.get("/webhook")
def challenge() -> str:
    # Echoing the challenge tells the engine this URL wants the notifications.
    return request.args.get("challenge", "")


@app.post("/webhook")
def notification() -> tuple[str, int]:
    # Check the signature against the raw body, before trusting the JSON.
    signature = request.headers.get("X-Nylas-Signature", "")
    if not nylas.verify_webhook_signature(signature, request.get_data(), APP_SECRET):
        abort(401)
    for delta in request.get_json()["deltas"]:
        data = delta["object_data"]
        print(f"{delta['type']}: {data['id']} (account {data['account_id']})", flush=True)
        received.append(delta)
    return "", 200  # answer quickly: anything else and the engine sends it all again


def register() -> Any:
    """The app's webhook for CALLBACK, made on the first run."""
    client = APIClient(APP_ID, APP_SECRET, api_server=API_SERVER)
    for webhook in client.webhooks:
        if webhook.callback_url == CALLBACK:
            return webhook
    webhook = client.webhooks.create(callback_url=CALLBACK, triggers=TRIGGERS)
    webhook.save()
    return webhook


if __name__ == "__main__":
    threading.Timer(1.0, register).start()  # once the server below is listening
    app.run(host="127.0.0.1", port=8889)
