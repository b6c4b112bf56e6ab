#!/usr/bin/env bash
# The whole check: install what the tests need, lint, type-check, run the suite.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

if [ "$(id -u)" = 0 ] && ! command -v dovecot >/dev/null 2>&1; then
  # The IMAP sync tests run a real Dovecot (see tests/sync).
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null && apt-get install -y -qq dovecot-imapd dovecot-lmtpd >/dev/null || \
    echo "warning: could not install dovecot; IMAP tests will fail" >&2
fi
if [ "$(id -u)" = 0 ] && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
    && ! command -v initdb >/dev/null 2>&1; then
  # The engine tests run a second time on a real PostgreSQL (see tests/postgres.py).
  export DEBIAN_FRONTEND=noninteractive
  (apt-get update -qq >/dev/null; apt-get install -y -qq postgresql >/dev/null) || \
    echo "warning: could not install postgresql; the PostgreSQL run will fail" >&2
fi
"$PY" -m pip install -q --disable-pip-version-check -e '.[engine,postgres,test,dev]'

echo "== ruff"
"$PY" -m ruff check src tests bench examples scripts
"$PY" -m ruff format --check src tests bench examples scripts
echo "== mypy"
"$PY" -m mypy src/nylas
"$PY" -m mypy src/nylas_engine
echo "== pytest"
"$PY" -m pytest -q -p no:cacheprovider "$@"
if [ $# -eq 0 ]; then
  echo "== pytest tests/engine on PostgreSQL"
  NYLAS_TEST_DB=postgresql "$PY" -m pytest -q -p no:cacheprovider tests/engine
fi
