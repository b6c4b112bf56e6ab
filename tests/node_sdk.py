"""The official Node.js SDK 6.x (npm `nylas@6`, the v2 SDK), driven against a live engine.

`run_node(engine_url, token, code, **values)` runs `code`, the body of an async JS function,
with `nylas` (the SDK's client for `token`), `Nylas` (the SDK module, configured for the
engine) and `values` (the keyword arguments, through JSON) in scope, and returns what the
function returns, through JSON. A JS error fails the test with the SDK's message.

The SDK is installed into tests/node/node_modules from tests/node/package-lock.json
(`npm ci`), once per machine; scripts/test.sh does it before the suite runs.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
from pathlib import Path
from typing import Any

NODE_DIR = Path(__file__).parent / "node"

_PRELUDE = """
const Nylas = require('nylas');
const env = process.env;
Nylas.config({clientId: env.NYLAS_CLIENT_ID, clientSecret: env.NYLAS_CLIENT_SECRET,
              apiServer: env.NYLAS_API_SERVER});
const nylas = Nylas.with(env.NYLAS_ACCESS_TOKEN);
const values = JSON.parse(env.NODE_VALUES);
(async () => {
%s
})().then(
  (result) => { process.stdout.write(JSON.stringify(result === undefined ? null : result)); },
  (error) => {
    process.stderr.write(`${error.statusCode || ''} ${error.message}\\n${error.stack}`);
    process.exit(1);
  });
"""


class NodeError(AssertionError):
    """The script threw: the SDK's status code and message are in the text."""


def install() -> None:
    """`npm ci` into tests/node unless it is there already (a file lock keeps concurrent
    test runs from installing at once)."""
    if (NODE_DIR / "node_modules" / "nylas" / "package.json").exists():
        return
    with open(NODE_DIR / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (NODE_DIR / "node_modules" / "nylas" / "package.json").exists():
            subprocess.run(
                ["npm", "ci", "--silent", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True
            )


def run_node(
    engine_url: str,
    token: str,
    code: str,
    *,
    client_id: str = "client-id",
    client_secret: str = "client-secret",
    **values: Any,
) -> Any:
    install()
    env = {
        **os.environ,
        "NYLAS_API_SERVER": engine_url,
        "NYLAS_ACCESS_TOKEN": token,
        "NYLAS_CLIENT_ID": client_id,
        "NYLAS_CLIENT_SECRET": client_secret,
        "NODE_VALUES": json.dumps(values),
        "NODE_EXTRA_CA_CERTS": os.environ.get("NODE_EXTRA_CA_CERTS", ""),
    }
    done = subprocess.run(
        ["node", "-e", _PRELUDE % code],
        cwd=NODE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0:
        raise NodeError(done.stderr.strip())
    return json.loads(done.stdout)
