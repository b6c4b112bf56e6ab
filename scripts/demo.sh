#!/usr/bin/env bash
# `make demo`: install the engine and the SDK, serve a demo mailbox, read it with the SDK.
#
#   NYLAS_DEMO_PORT=5555 NYLAS_DEMO_DATA=.demo-data bash scripts/demo.sh
#
# Makes the project's virtual environment .venv and installs into it (scripts/venv.sh; PYTHON
# names the Python to make it with), starts `nylas-engine --data-dir $NYLAS_DEMO_DATA demo`
# (the demo mailboxes are created on the first run and reused after; the demo's local mail
# sink takes what they send), waits until it answers, runs examples/quickstart.py against it,
# then keeps serving until Ctrl-C. NYLAS_DEMO_EXIT_AFTER_QUICKSTART=1 stops after the
# quickstart instead; NYLAS_DEMO_SKIP_INSTALL=1 makes no venv and installs nothing, and runs
# with $PYTHON (default .venv/bin/python) as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${NYLAS_DEMO_PORT:-5555}
DATA=${NYLAS_DEMO_DATA:-.demo-data}
URL="http://127.0.0.1:$PORT/"

if [ "${NYLAS_DEMO_SKIP_INSTALL:-0}" = 1 ]; then
  PY=${PYTHON:-.venv/bin/python}
else
  bash scripts/venv.sh engine
  PY=.venv/bin/python
fi

echo "== Starting nylas-engine --data-dir $DATA demo --port $PORT"
"$PY" -m nylas_engine --data-dir "$DATA" demo --port "$PORT" &
SERVER=$!

stop_server() {
  if kill -0 "$SERVER" 2>/dev/null; then
    kill -TERM "$SERVER" 2>/dev/null || true
    wait "$SERVER" 2>/dev/null || true
  fi
}
trap stop_server EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The first run creates the mailbox (a few seconds) before the server answers.
until "$PY" - "$URL" <<'EOF' 2>/dev/null
import sys, urllib.error, urllib.request
try:
    urllib.request.urlopen(sys.argv[1], timeout=1)
except urllib.error.HTTPError:
    pass  # any HTTP answer means the server is up
EOF
do
  if ! kill -0 "$SERVER" 2>/dev/null; then
    echo "nylas-engine exited before answering (is port $PORT already in use?)" >&2
    exit 1
  fi
  sleep 0.2
done

echo
echo "== The SDK reading the demo inbox: NYLAS_API_SERVER=$URL python examples/quickstart.py"
NYLAS_API_SERVER="$URL" "$PY" examples/quickstart.py
echo

if [ "${NYLAS_DEMO_EXIT_AFTER_QUICKSTART:-0}" = 1 ]; then
  exit 0
fi
echo "== Serving on $URL (Ctrl-C stops it)"
wait "$SERVER"
