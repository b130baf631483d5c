#!/usr/bin/env bash
# The unit tests of every layer again on CPython 3.12 (issue 12: interned strings are
# immortal there, and many users run it). Uses its own virtualenv .venv312 (made or
# refreshed when pyproject.toml changes, as scripts/bootstrap.sh does for .venv); `pip
# install -e` builds the C accelerator for cpython-312 next to the 3.11 one in rtio/ws.
# Without any CPython 3.12 (PATH, pyenv, or Debian's python3.12 package) it says so and
# passes.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cd "$ROOT"

is312() { "$1" -c 'import sys, venv; sys.exit(sys.version_info[:2] != (3, 12))' 2>/dev/null; }

find312() {
  local cand
  for cand in "$(command -v python3.12 2>/dev/null)" /root/.pyenv/versions/3.12*/bin/python3.12 \
      /usr/local/bin/python3.12 /usr/bin/python3.12; do
    [[ -n $cand && -x $cand ]] && is312 "$cand" && { echo "$cand"; return 0; }
  done
  return 1
}

PY312=$(find312)
if [[ -z $PY312 ]] && [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
  apt-get update -qq >/dev/null 2>&1
  if apt-cache policy python3.12 2>/dev/null | grep -q 'Candidate: [0-9]'; then
    echo "[py312] apt-get install python3.12 python3.12-venv"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      python3.12 python3.12-venv >/dev/null 2>&1
    PY312=$(find312)
  fi
fi
if [[ -z $PY312 ]]; then
  echo "skipped: no CPython 3.12 on this machine"
  exit 0
fi
echo "[py312] $PY312 ($("$PY312" -c 'import sys; print(sys.version.split()[0])'))"

stamp=".venv312/.rtio-stamp"
want="$(sha256sum <pyproject.toml | cut -c1-16)"
# the venv's interpreter must still be a 3.12 (a pyenv upgrade removes the old one)
if [[ ! -x .venv312/bin/python ]] || ! is312 .venv312/bin/python; then
  rm -rf .venv312
fi
if [[ ! -f $stamp || "$(cat "$stamp")" != "$want" ]]; then
  echo "[py312] creating .venv312 and installing rtio[dev]"
  [[ -x .venv312/bin/python ]] || "$PY312" -m venv .venv312 || exit 1
  .venv312/bin/pip install -q --disable-pip-version-check -e '.[dev]' || exit 1
  echo "$want" >"$stamp"
fi
# the editable install is this checkout, with the cpython-312 accelerator built
.venv312/bin/python - <<'PY' || exit 1
import pathlib, sys
import rtio, rtio.ws.frames as frames
here = pathlib.Path.cwd().resolve()
assert pathlib.Path(rtio.__file__).resolve().is_relative_to(here), rtio.__file__
print(f"[py312] rtio from {pathlib.Path(rtio.__file__).parent}, C apply_mask:",
      frames.apply_mask is not frames._apply_mask_py)
PY
.venv312/bin/pytest tests -q -p no:cacheprovider
