#!/usr/bin/env bash
# Installs Autobahn|Testsuite's `wstest` once and prints the directory of its virtualenv.
#
#   venv=$(tests/autobahn/install.sh)    # then: $venv/bin/python, $venv/bin/wstest
#
# The suite (autobahntestsuite 25.10.1 on PyPI) is Python 2.7 code. Debian 12 has no
# python2.7, so it comes from Debian 11 (bullseye), added to apt with pin priority 100: apt
# takes from bullseye only what bookworm lacks. That part needs root (or sudo). Then a
# virtualenv under the cache directory gets requirements-py27.txt with `pip --no-deps`; a
# stamp (the hash of that file) makes every later call return at once.
#
# Env: AUTOBAHN_CACHE   where the virtualenvs go (default ${XDG_CACHE_HOME:-~/.cache}/rtio-autobahn)
#      AUTOBAHN_PYTHON2 the python2.7 to use (default /usr/bin/python2.7, installed if absent)
# Progress goes to stderr; only the virtualenv's path goes to stdout.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
reqs="$here/requirements-py27.txt"
cache="${AUTOBAHN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rtio-autobahn}"
venv="$cache/py27"
py2="${AUTOBAHN_PYTHON2:-/usr/bin/python2.7}"
stamp="$venv/.installed-from"
want="$(sha256sum "$reqs" | cut -d' ' -f1)"

say() { echo "autobahn install: $*" >&2; }
sudo_if_needed() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

if [[ -x "$venv/bin/wstest" && "$(cat "$stamp" 2>/dev/null)" == "$want" ]]; then
  echo "$venv"
  exit 0
fi

# add_bullseye: make python2.7 installable (only when no apt source offers it yet).
add_bullseye() {
  local mirror
  mirror=$(sed -n 's|^URIs: *\(\S*/debian\)/*$|\1|p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1)
  [[ -n $mirror ]] || mirror=$(awk '$1 == "deb" && $2 ~ /\/debian\/?$/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null)
  [[ -n $mirror ]] || mirror=http://deb.debian.org/debian
  say "adding Debian bullseye ($mirror) to apt, pinned at 100, for python2.7"
  printf '%s\n' "# rtio tests/autobahn/install.sh: python2.7 (Autobahn|Testsuite) exists up to Debian 11" \
    "Types: deb" "URIs: $mirror" "Suites: bullseye" "Components: main" \
    "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg" \
    | sudo_if_needed tee /etc/apt/sources.list.d/rtio-bullseye-python2.sources >/dev/null
  printf '%s\n' "# rtio tests/autobahn/install.sh: from bullseye only what the running release lacks" \
    "Package: *" "Pin: release n=bullseye" "Pin-Priority: 100" \
    | sudo_if_needed tee /etc/apt/preferences.d/rtio-bullseye-python2.pref >/dev/null
  sudo_if_needed apt-get update -qq >&2
}

# python2.7 itself, its headers and gcc (wsaccel and ujson are C extensions built by pip)
if [[ ! -x $py2 || ! -f /usr/include/python2.7/Python.h ]] || ! command -v gcc >/dev/null; then
  sudo_if_needed apt-get update -qq >&2
  apt-cache show python2.7-dev >/dev/null 2>&1 || add_bullseye
  say "apt-get install python2.7 python2.7-dev gcc"
  DEBIAN_FRONTEND=noninteractive sudo_if_needed apt-get install -y -qq --no-install-recommends \
    python2.7 python2.7-dev gcc >&2
  [[ -x $py2 ]] || py2=/usr/bin/python2.7
fi

# Python 3's venv cannot make a Python 2.7 environment; virtualenv 20.21.1 is the last that can.
mkdir -p "$cache"
maker="$cache/virtualenv-20.21.1"
if [[ ! -x "$maker/bin/virtualenv" ]]; then
  say "python3 venv with virtualenv 20.21.1 in $maker"
  rm -rf "$maker"
  python3 -m venv "$maker"
  "$maker/bin/pip" install -q --disable-pip-version-check 'virtualenv==20.21.1' >&2
fi

say "Python 2.7 virtualenv $venv from $(basename "$reqs")"
rm -rf "$venv"
"$maker/bin/virtualenv" -q -p "$py2" "$venv" >&2
if ! "$venv/bin/pip" install -q --no-deps --disable-pip-version-check -r "$reqs" \
    >"$cache/pip.log" 2>&1; then
  tail -30 "$cache/pip.log" >&2
  say "pip failed (whole log: $cache/pip.log)"
  exit 1
fi
"$venv/bin/wstest" --autobahnversion >&2
echo "$want" >"$stamp"
echo "$venv"
