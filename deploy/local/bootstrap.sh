#!/usr/bin/env bash
# Installs everything Outgoing needs on a fresh machine, idempotently:
# uv (pinned) -> the locked Python environment -> the Kafka jars and the MongoDB-wire server.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="${OUTGOING_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/outgoing}"
UV_VERSION="0.13.9"
TOOLS="$CACHE/tools"

fail() { echo "[bootstrap] error: $1" >&2; echo "  fix: $2" >&2; exit 1; }

command -v python3 >/dev/null || fail "python3 is missing" "apt-get install -y python3 python3-venv"
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || fail "Python >= 3.11 is needed, found $(python3 --version 2>&1)" "install Python 3.11 or newer"

if [[ ! -x "$TOOLS/bin/uv" ]] || [[ "$("$TOOLS/bin/uv" --version 2>/dev/null)" != "uv $UV_VERSION"* ]]; then
  echo "[bootstrap] installing uv $UV_VERSION into $TOOLS"
  python3 -m venv "$TOOLS" || fail "could not create a virtualenv in $TOOLS" "apt-get install -y python3-venv"
  "$TOOLS/bin/pip" install -q --disable-pip-version-check "uv==$UV_VERSION" \
    || fail "could not install uv from the Python package index (registry unreachable?)" \
            "check network/proxy settings (PIP_INDEX_URL), then re-run: make install"
fi

cd "$ROOT"
"$TOOLS/bin/uv" sync --frozen --quiet \
  || fail "could not install the locked Python dependencies (registry unreachable?)" \
          "check network/proxy settings (UV_INDEX_URL), then re-run: make install"

.venv/bin/python deploy/local/infra.py install
