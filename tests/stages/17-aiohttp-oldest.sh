#!/usr/bin/env bash
# The aiohttp contract tests against the OLDEST aiohttp that pyproject.toml admits (3.10.*),
# in a venv of their own (.venv-aiohttp-oldest, rebuilt when pyproject.toml changes); the
# main .venv has the newest (< 3.15). These are the tests of rtio/aiohttp_internals.py (the
# one module touching aiohttp's private internals) and of the fronts built on it: an aiohttp
# release that changes an internal breaks one of them, not the product. (~1 minute, most of
# it the first install.)
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cd "$ROOT"
VENV=.venv-aiohttp-oldest
OLDEST="aiohttp==3.10.*"
stamp="$VENV/.rtio-stamp"
want="$( (cat pyproject.toml; echo "$OLDEST") | sha256sum | cut -c1-16)"
if [[ ! -x $VENV/bin/python || ! -f $stamp || "$(cat "$stamp")" != "$want" ]]; then
  echo "[17] creating $VENV with $OLDEST" >&2
  rm -rf "$VENV"
  python3 -m venv "$VENV" || exit 1
  # rtio itself without its dependencies (they would pull the newest aiohttp), then the
  # oldest aiohttp and the rest of what rtio and these tests need
  "$VENV/bin/pip" install -q --disable-pip-version-check --no-deps -e . >&2 || exit 1
  "$VENV/bin/pip" install -q --disable-pip-version-check "$OLDEST" "msgpack>=1.0,<2" \
    "uvloop>=0.19; sys_platform == 'linux' and platform_python_implementation == 'CPython'" \
    "pytest>=8" "pytest-asyncio>=0.23" "hypothesis>=6.100" >&2 || exit 1
  echo "$want" >"$stamp"
fi
"$VENV/bin/python" -c 'import aiohttp; print("aiohttp", aiohttp.__version__)'
"$VENV/bin/pytest" -q -p no:cacheprovider \
  tests/test_aiohttp_internals.py \
  tests/ws/test_aiohttp_adapter.py \
  tests/engine/test_http.py tests/engine/test_aiohttp_front.py \
  tests/http
