#!/usr/bin/env bash
# Validates an AsyncAPI 3 document with the official parser that deploy/local/bootstrap.sh
# installed (`make install`):  deploy/local/asyncapi/validate.sh docs/asyncapi.yaml
# Exit status: 0 clean, 1 any error or warning (all diagnostics are printed), 2 missing file
# or parser not installed.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${OUTGOING_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/outgoing}"
# Same directory as bootstrap.sh computes.
ASYNCAPI_PARSER_DIR="$CACHE/asyncapi-parser-$(sha256sum "$HERE/package-lock.json" | cut -c1-16)"

if [[ $# -ne 1 ]]; then
  echo "usage: $0 <asyncapi.yaml>" >&2
  exit 2
fi
if [[ ! -d "$ASYNCAPI_PARSER_DIR/node_modules" ]]; then
  echo "asyncapi: the AsyncAPI parser is not installed (expected in $ASYNCAPI_PARSER_DIR)" >&2
  echo "  fix: make install" >&2
  exit 2
fi
command -v node >/dev/null || { echo "asyncapi: node is missing; fix: install Node.js >= 18" >&2; exit 2; }

export ASYNCAPI_PARSER_DIR
exec node "$HERE/validate.mjs" "$1"
