#!/usr/bin/env bash
# Idempotent setup of everything the project needs on a fresh machine:
# the Python virtualenv (.venv) with rtio and its dev tools, and the Node packages the
# integration tests use (tests/node). Debian packages that only one stage needs (chromium,
# python2.7 for Autobahn, by tests/autobahn/install.sh) are installed by that stage. Prints progress on stderr.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
log() { echo "[bootstrap] $*" >&2; }

as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }
apt_install() {  # apt_install PKG... : install Debian packages that are missing
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  log "apt-get install ${missing[*]}"
  as_root apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

command -v python3 >/dev/null || apt_install python3 python3-venv
command -v node >/dev/null || apt_install nodejs npm

stamp=".venv/.rtio-stamp"
want="$(cat pyproject.toml | sha256sum | cut -c1-16)"
if [[ ! -x .venv/bin/python || ! -f $stamp || "$(cat "$stamp")" != "$want" ]]; then
  log "creating .venv and installing rtio[dev]"
  [[ -x .venv/bin/python ]] || python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check -e '.[dev]' >&2
  echo "$want" >"$stamp"
fi

if [[ -f tests/node/package-lock.json ]]; then
  # npm's own node_modules/.package-lock.json is not a copy of package-lock.json, so compare
  # a stamp of the lock's sha256 written after a successful install.
  node_want="$(sha256sum <tests/node/package-lock.json | cut -c1-64)"
  if [[ "$(cat tests/node/node_modules/.rtio-lock-sha256 2>/dev/null)" != "$node_want" ]]; then
    log "npm ci in tests/node"
    (cd tests/node && npm ci --no-audit --no-fund --loglevel=error >&2)
    echo "$node_want" >tests/node/node_modules/.rtio-lock-sha256
  fi
fi
