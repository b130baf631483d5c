#!/usr/bin/env bash
# The package as a user gets it (issue 16): scripts/build-wheels.sh builds the sdist and the
# manylinux wheel (the demo's browser app inside); the wheel goes into a fresh venv
# (non-editable, run from outside the repository) where `rtio --version` must report the C
# speedup and `rtio demo` must serve its page and bundle; then the sdist is reinstalled
# there with no working C compiler (CC=false) and must fall back to pure Python, saying so.
# About a minute (most of it pip). Not in `scripts/test.sh --fast`.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cd "$ROOT"
log="$ARTIFACTS/package.log"; : >"$log"
bash scripts/build-wheels.sh 2>>"$log" | tee -a "$log" || { tail -30 "$log"; exit 1; }
whl=$(ls wheelhouse/rtio-*manylinux*.whl 2>/dev/null | head -1)
sdist=$(ls wheelhouse/rtio-*.tar.gz 2>/dev/null | head -1)
[[ -n $whl && -n $sdist ]] || { echo "no manylinux wheel or sdist in wheelhouse/"; exit 1; }
echo "wheel: $(basename "$whl"), sdist: $(basename "$sdist")"

venv=$(mktemp -d); work=$(mktemp -d); demo_pid=""
trap '[[ -n $demo_pid ]] && kill $demo_pid 2>/dev/null; rm -rf "$venv" "$work"' EXIT
python3 -m venv "$venv" || exit 1
"$venv/bin/pip" install -q --disable-pip-version-check "$whl" >>"$log" 2>&1 || { tail -20 "$log"; exit 1; }
cd "$work"  # nothing of the checkout in sight
"$venv/bin/python" -c 'import rtio, sys; sys.exit("site-packages" not in rtio.__file__)' \
  || { echo "rtio is not imported from the installed wheel"; exit 1; }
version=$("$venv/bin/rtio" --version); echo "$version"
[[ $version == *"C speedup"* ]] || { echo "the wheel's C speedup is not in use"; exit 1; }

port=$(free_port)
"$venv/bin/rtio" demo --port "$port" --log-level debug >"$ARTIFACTS/package-demo.log" 2>&1 &
demo_pid=$!
for _ in $(seq 100); do
  curl -fsS "http://127.0.0.1:$port/" -o "$work/index.html" 2>/dev/null && break
  kill -0 $demo_pid 2>/dev/null || break
  sleep 0.1
done
grep -q 'assets/app.js' "$work/index.html" 2>/dev/null \
  || { echo "rtio demo did not serve its page"; cat "$ARTIFACTS/package-demo.log"; exit 1; }
size=$(curl -fsS "http://127.0.0.1:$port/assets/app.js" | wc -c)
curl -fsS "http://127.0.0.1:$port/socket.io/?EIO=4&transport=polling" | grep -q '"sid"' \
  || { echo "no Engine.IO handshake from rtio demo"; exit 1; }
[[ $size -gt 10000 ]] || { echo "the bundle is missing or truncated ($size bytes)"; exit 1; }
echo "rtio demo from the wheel: page ok, assets/app.js $size bytes, Engine.IO handshake ok"
grep -m1 'speedup' "$ARTIFACTS/package-demo.log"
kill $demo_pid; wait $demo_pid 2>/dev/null; demo_pid=""

# the sdist without a compiler: the optional extension fails to build, rtio still installs
CC=false "$venv/bin/pip" install -q --disable-pip-version-check --no-deps --force-reinstall \
  --no-cache-dir "$ROOT/$sdist" >>"$log" 2>&1 || { echo "the sdist does not install without a C compiler"; tail -20 "$log"; exit 1; }
version=$("$venv/bin/rtio" --version); echo "sdist, no compiler: $version"
[[ $version == *"pure Python"* ]] || { echo "expected the pure-Python fallback"; exit 1; }
