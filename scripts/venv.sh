#!/usr/bin/env bash
# The project's virtual environment: `bash scripts/venv.sh EXTRAS` makes .venv (once) with a
# Python >= 3.10 found on this machine and installs the project into it in editable mode
# with the given extras (e.g. "engine" or "engine,postgres,test,dev"). `make demo`, `make test`
# and the bench targets run it, then use .venv/bin/python.
#
#   PYTHON=/usr/bin/python3.12 bash scripts/venv.sh engine   # the Python to make .venv with
#
# Why a venv: a distribution's own Python (Debian, Ubuntu, Fedora...) refuses `pip install`
# outside one (PEP 668, "externally-managed-environment"), and a venv keeps the project's
# packages apart from everything else. Debian and Ubuntu ship the venv module's pip
# bootstrap (ensurepip) separately, in pythonX.Y-venv: as root it is installed with
# apt-get, otherwise the exact command is printed.
#
# The install is skipped when .venv already has these extras for this pyproject.toml (a
# stamp file in .venv), so a second `make demo` starts at once. To start afresh with another
# Python: rm -rf .venv.
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS=${1:-engine}
VENV=.venv

version_ok() { # a Python that runs and is >= 3.10
  "$1" -c 'import sys; sys.exit(sys.version_info < (3, 10))' >/dev/null 2>&1
}

find_python() {
  if [ -n "${PYTHON:-}" ]; then
    if ! version_ok "$PYTHON"; then
      echo "PYTHON=$PYTHON is not a Python 3.10 or newer" >&2
      exit 1
    fi
    echo "$PYTHON"
    return
  fi
  local candidate
  for candidate in python3 python3.14 python3.13 python3.12 python3.11 python3.10 python; do
    if command -v "$candidate" >/dev/null 2>&1 && version_ok "$candidate"; then
      command -v "$candidate"
      return
    fi
  done
  echo "No Python 3.10 or newer found on PATH (tried python3, python3.14 ... python3.10)." >&2
  echo "Install one (Debian/Ubuntu: apt-get install python3 python3-venv), or name it:" >&2
  echo "  make demo PYTHON=/path/to/python3" >&2
  exit 1
}

ensure_venv_support() { # Debian/Ubuntu: ensurepip lives in the pythonX.Y-venv package
  local base=$1
  if "$base" -c 'import ensurepip, venv' >/dev/null 2>&1; then
    return
  fi
  local version package
  version=$("$base" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  package="python$version-venv"
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "$base cannot make virtual environments (no ensurepip/venv module)." >&2
    echo "Install your distribution's venv support for Python $version, or run with" >&2
    echo "PYTHON=/path/to/another/python3." >&2
    exit 1
  fi
  if [ "$(id -u)" != 0 ]; then
    echo "$base cannot make virtual environments: Debian/Ubuntu ship that part apart." >&2
    echo "Install it, then run this again:" >&2
    echo "  sudo apt-get install -y $package" >&2
    exit 1
  fi
  echo "== Installing $package (the venv module's pip bootstrap) with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -qq "$package" >/dev/null 2>&1; then
    apt-get update -qq >/dev/null
    apt-get install -y -qq "$package" >/dev/null
  fi
}

if [ -x "$VENV/bin/python" ] && version_ok "$VENV/bin/python" \
    && "$VENV/bin/python" -m pip --version >/dev/null 2>&1; then
  :
else
  base=$(find_python)
  ensure_venv_support "$base"
  echo "== Making the virtual environment $VENV with $base ($("$base" --version 2>&1))"
  "$base" -m venv --clear "$VENV"
fi

stamp="$VENV/.installed-$(echo "$EXTRAS" | tr ',' '-')"
wanted="$(cat pyproject.toml | "$VENV/bin/python" -c \
  'import hashlib, sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())')"
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  echo "== Installing the project into $VENV: pip install -e '.[$EXTRAS]'"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e ".[$EXTRAS]"
  echo "$wanted" >"$stamp"
fi
