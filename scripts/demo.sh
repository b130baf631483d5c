#!/usr/bin/env bash
# The chat demo from a fresh machine, installing only what the demo needs: python3 and
# node/npm (Debian packages, when missing), a .venv with rtio and its runtime dependencies
# (not the dev tools: scripts/bootstrap.sh adds those for the tests), and the browser app's
# two npm packages (socket.io-client, esbuild), which `rtio demo` installs and builds on
# first use. Then serves it on http://127.0.0.1:${PORT:-8000}/ (HOST=0.0.0.0 to open it to
# the network). Extra arguments go to `rtio demo` (e.g. --log-level debug).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
log() { echo "[demo] $*" >&2; }
as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }
apt_install() {
  log "apt-get install $*"
  as_root apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "$@" >&2
}
command -v python3 >/dev/null || apt_install python3 python3-venv
command -v npm >/dev/null || apt_install nodejs npm

# .venv is current when scripts/bootstrap.sh made it for this pyproject.toml (rtio[dev]) or
# this script did (rtio alone); the stamps hash pyproject.toml.
want="$(sha256sum <pyproject.toml | cut -c1-16)"
want_dev="$(cat pyproject.toml | sha256sum | cut -c1-16)"
if [[ ! -x .venv/bin/rtio || ( "$(cat .venv/.rtio-stamp 2>/dev/null)" != "$want_dev" \
      && "$(cat .venv/.rtio-demo-stamp 2>/dev/null)" != "$want" ) ]]; then
  log "creating .venv and installing rtio (runtime dependencies only)"
  [[ -x .venv/bin/python ]] || python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check -e . >&2
  echo "$want" >.venv/.rtio-demo-stamp
fi
exec .venv/bin/rtio demo --host "${HOST:-127.0.0.1}" --port "${PORT:-8000}" "$@"
