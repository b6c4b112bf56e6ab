#!/usr/bin/env bash
# The whole check: install what the tests need, lint, type-check, run the suite.
# Python packages go into the project's virtual environment .venv (scripts/venv.sh; PYTHON
# names the Python to make it with); the suite runs with .venv/bin/python, and so do the
# engines it starts (nylas.testing.LocalEngine runs sys.executable).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" = 0 ] && ! command -v dovecot >/dev/null 2>&1; then
  # The IMAP sync tests run a real Dovecot (see tests/sync).
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null && apt-get install -y -qq dovecot-imapd dovecot-lmtpd >/dev/null || \
    echo "warning: could not install dovecot; IMAP tests will fail" >&2
fi
if [ "$(id -u)" = 0 ] && { ! [ -x /usr/lib/cyrus/bin/master ] || ! command -v saslpasswd2 >/dev/null 2>&1; }; then
  # tests/sync/test_cyrus.py runs a real Cyrus IMAP too: its master, lmtpd and tools (cyrus-common),
  # saslpasswd2 for its password database (sasl2-bin).
  export DEBIAN_FRONTEND=noninteractive
  (apt-get update -qq >/dev/null; apt-get install -y -qq --no-install-recommends cyrus-common sasl2-bin >/dev/null) || \
    echo "warning: could not install cyrus-common; the Cyrus tests will fail" >&2
fi
if [ "$(id -u)" = 0 ] && ! [ -x /usr/lib/cyrus/bin/imapd ] && ! [ -x /opt/cyrus-imapd/usr/lib/cyrus/bin/imapd ]; then
  # Cyrus's imapd is in the package cyrus-imapd, which conflicts with dovecot-imapd (both provide
  # imap-server): installing it would remove Dovecot's. It is unpacked beside it instead, into
  # /opt/cyrus-imapd (tests/sync/cyrus.py looks there); its libraries come with cyrus-common.
  deb_dir=$(mktemp -d)
  chmod 755 "$deb_dir"
  (cd "$deb_dir" && apt-get download -qq cyrus-imapd >/dev/null 2>&1 && \
    dpkg-deb -x cyrus-imapd_*.deb /opt/cyrus-imapd) || \
    echo "warning: could not unpack cyrus-imapd; the Cyrus tests will fail" >&2
  rm -rf "$deb_dir"
fi
if [ "$(id -u)" = 0 ] && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
    && ! command -v initdb >/dev/null 2>&1; then
  # The engine tests run a second time on a real PostgreSQL (see tests/postgres.py).
  export DEBIAN_FRONTEND=noninteractive
  (apt-get update -qq >/dev/null; apt-get install -y -qq postgresql >/dev/null) || \
    echo "warning: could not install postgresql; the PostgreSQL run will fail" >&2
fi
bash scripts/venv.sh engine,postgres,test,dev
PY=.venv/bin/python
if [ "$(id -u)" = 0 ] && ! command -v npm >/dev/null 2>&1; then
  # The official Node.js SDK 6.x drives the engine in tests/engine/test_node_*.py.
  export DEBIAN_FRONTEND=noninteractive
  (apt-get update -qq >/dev/null; apt-get install -y -qq nodejs npm >/dev/null) || \
    echo "warning: could not install npm; the Node.js SDK tests will fail" >&2
fi
(cd tests/node && npm ci --silent --no-audit --no-fund)

echo "== ruff"
"$PY" -m ruff check src tests bench examples scripts
"$PY" -m ruff format --check src tests bench examples scripts
echo "== mypy"
"$PY" -m mypy src/nylas
"$PY" -m mypy src/nylas_engine
# The engine processes the tests start import from bytecode, as an installed engine does: with
# PYTHONDONTWRITEBYTECODE set (CI images often set it) each would compile its modules again.
"$PY" -m compileall -q src
if [ $# -gt 0 ]; then
  echo "== pytest $*"
  exec "$PY" -m pytest -q -p no:cacheprovider "$@"
fi
# The whole suite on SQLite and, alongside it, tests/engine again on PostgreSQL, each spread over
# PYTEST_WORKERS processes (pytest-xdist; work stealing, since a few tests take much longer
# than the rest). The tests mostly wait on servers and subprocesses, so 2 × 3 workers share two
# cores well. The PostgreSQL report follows the SQLite one.
workers=${PYTEST_WORKERS:-3}
parallel=(-n "$workers" --dist worksteal --durations=25)
# The PostgreSQL pass is for what the database changes: modules that test TLS, file modes,
# MIME parsing, presets, SASL, the docs, the layering, or clients' request shapes run once.
pg_once=(blank_text delta_wakeups cli_secrets cors docs file_modes https layers mime mime_tree presets sasl openapi_client
  node_sdk node_sdk_calendar node_sdk_metadata legacy_auth legacy_calendar_contacts
  legacy_drafts_files legacy_mail)
pg_ignore=()
for name in "${pg_once[@]}"; do pg_ignore+=(--ignore "tests/engine/test_$name.py"); done
echo "== pytest (SQLite), with tests/engine on PostgreSQL alongside ($workers workers each)"
pg_log=$(mktemp)
NYLAS_TEST_DB=postgresql "$PY" -m pytest -q -p no:cacheprovider "${parallel[@]}" tests/engine \
  "${pg_ignore[@]}" \
  >"$pg_log" 2>&1 &
pg_run=$!
status=0
"$PY" -m pytest -q -p no:cacheprovider "${parallel[@]}" || status=$?
pg_status=0
wait "$pg_run" || pg_status=$?
echo "== pytest tests/engine on PostgreSQL"
cat "$pg_log"
rm -f "$pg_log"
if [ "$status" -ne 0 ] || [ "$pg_status" -ne 0 ]; then
  exit 1
fi
