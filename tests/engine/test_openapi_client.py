"""A client generated from the engine's `/openapi.json` (openapi-python-client) works: it
lists threads and sends a draft through a real SMTP listener."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import httpx


def generate(spec: dict, where: Path) -> Path:
    source = where / "openapi.json"
    source.write_text(json.dumps(spec))
    tool = Path(sys.executable).with_name("openapi-python-client")
    subprocess.run(
        [str(tool), "generate", "--path", str(source), "--output-path", str(where / "client")],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return where / "client"


def test_generated_client_lists_threads_and_sends_a_draft(engine, sender, listener, tmp_path):
    spec = httpx.get(engine.url + "/openapi.json").json()
    project = generate(spec, tmp_path)
    sys.path.insert(0, str(project))
    try:
        package = importlib.import_module("nylas_engine_client")
        threads_api = importlib.import_module("nylas_engine_client.api.default.list_threads")
        drafts_api = importlib.import_module("nylas_engine_client.api.default.create_draft")
        send_api = importlib.import_module("nylas_engine_client.api.default.send")
        models = importlib.import_module("nylas_engine_client.models")
    finally:
        sys.path.remove(str(project))

    client = package.AuthenticatedClient(base_url=engine.url, token=sender["id"])
    listed = threads_api.sync(client=client, limit=10)
    assert listed == []

    draft = drafts_api.sync(
        client=client,
        body=models.DraftInput.from_dict(
            {
                "subject": "From a generated client",
                "body": "Hello",
                "to": [{"name": "Ann", "email": "ann@example.com"}],
            }
        ),
    )
    assert draft.subject == "From a generated client"
    sent = send_api.sync(
        client=client,
        body=models.SendInput.from_dict({"draft_id": draft.id, "version": draft.version}),
    )
    assert sent.subject == "From a generated client"
    [received] = listener.messages  # the reply came once the SMTP server had accepted it
    assert received.rcpt_tos == ["ann@example.com"]
    assert received.message["Subject"] == "From a generated client"

    listed = threads_api.sync(client=client, limit=10)
    assert [t.subject for t in listed] == ["From a generated client"]
