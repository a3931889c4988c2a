#!/usr/bin/env bash
# Installs everything Outgoing needs on a fresh machine, idempotently:
# uv (pinned) -> the locked Python environment -> the AsyncAPI parser (npm, locked)
# -> the Kafka jars and the MongoDB-wire server.
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

# The official AsyncAPI parser, which checks docs/asyncapi.yaml (deploy/local/asyncapi/validate.sh).
# Installed with `npm ci` from the committed lock into a directory named after the lock's hash,
# so a changed lock gets a fresh install; built in a .partial directory and renamed when done.
ASYNCAPI_SRC="$ROOT/deploy/local/asyncapi"
ASYNCAPI_DIR="$CACHE/asyncapi-parser-$(sha256sum "$ASYNCAPI_SRC/package-lock.json" | cut -c1-16)"
if [[ ! -d "$ASYNCAPI_DIR/node_modules" ]]; then
  command -v node >/dev/null && command -v npm >/dev/null \
    || fail "node and npm are missing (needed for the AsyncAPI parser)" \
            "install Node.js >= 18 with npm (e.g. apt-get install -y nodejs npm), then re-run: make install"
  node -e 'process.exit(Number(process.versions.node.split(".")[0]) < 18 ? 1 : 0)' \
    || fail "Node.js >= 18 is needed for the AsyncAPI parser, found $(node --version)" \
            "install Node.js 18 or newer, then re-run: make install"
  echo "[bootstrap] installing the AsyncAPI parser into $ASYNCAPI_DIR"
  rm -rf "$ASYNCAPI_DIR.partial" && mkdir -p "$ASYNCAPI_DIR.partial"
  cp "$ASYNCAPI_SRC/package.json" "$ASYNCAPI_SRC/package-lock.json" "$ASYNCAPI_DIR.partial/"
  # --ignore-scripts: no dependency needs a build step; it skips a telemetry postinstall.
  (cd "$ASYNCAPI_DIR.partial" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null) \
    || fail "could not install the AsyncAPI parser with npm ci (registry unreachable?)" \
            "check network/proxy settings (npm config get registry), then re-run: make install"
  rm -rf "$ASYNCAPI_DIR" && mv "$ASYNCAPI_DIR.partial" "$ASYNCAPI_DIR"
fi

# Headless Chromium for the HTML report's browser test (tests/integration/test_report_html.py).
# Debian's own package: Playwright drives it by path and never downloads a browser of its own.
# Not fatal: only that test needs it, and it fails under CI=true when the browser is missing.
if [[ ! -x /usr/bin/chromium ]]; then
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
    echo "[bootstrap] installing Debian's chromium (for the HTML report's browser test)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 \
      || { apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends chromium >/dev/null; } \
      || echo "[bootstrap] warning: apt-get could not install chromium; the HTML report's browser test will fail under CI=true and skip elsewhere" >&2
  else
    echo "[bootstrap] note: /usr/bin/chromium is missing, and installing it needs root and apt-get;" \
         "the HTML report's browser test will skip (and fail under CI=true)." >&2
    echo "  fix: as root, apt-get install -y --no-install-recommends chromium" >&2
  fi
fi

# The annealing kernel, compiled once into numba's cache (6 s) rather than inside a solve's time limit.
.venv/bin/python -c 'from services.matching.domain.annealkernel import warm; warm()' \
  || fail "could not compile the annealing kernel with numba" "re-run: make install (the error above names the cause)"

.venv/bin/python deploy/local/infra.py install
