#!/usr/bin/env bash
# rtio.cluster's foundation against the real thing: Debian's redis-server (installed here
# with apt-get if missing; the stage fails if it cannot be) and Node's cluster packages
# (tests/cluster/package-lock.json: socket.io 4.8, @socket.io/redis-adapter 8.3,
# @socket.io/redis-emitter 5.1, redis 4). Regenerates the wire vectors from the npm packages
# and checks they still match tests/cluster/vectors.json, then runs tests/cluster (codecs,
# the Redis link and its faults: SIGKILL + restart, a deaf subscription) with Redis required.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cd "$ROOT"

if ! command -v redis-server >/dev/null; then
  as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }
  echo "installing redis-server"
  { as_root apt-get update -qq && DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq \
      --no-install-recommends redis-server; } >"$ARTIFACTS/cluster-apt.log" 2>&1
  command -v redis-server >/dev/null || { tail -20 "$ARTIFACTS/cluster-apt.log"; echo "cannot install redis-server"; exit 1; }
fi
redis-server --version
"$PY" -c 'import redis, hiredis; print("redis-py", redis.__version__, "hiredis", hiredis.__version__)' \
  || { echo "redis-py is missing: pip install -e '.[dev]' (scripts/bootstrap.sh)"; exit 1; }

cd "$ROOT/tests/cluster"
want="$(sha256sum <package-lock.json | cut -c1-64)"
if [[ "$(cat node_modules/.rtio-lock-sha256 2>/dev/null)" != "$want" ]]; then
  npm ci --no-audit --no-fund --loglevel=error || exit 1
  echo "$want" >node_modules/.rtio-lock-sha256
fi
cd "$ROOT"

rc=0
"$PY" tests/cluster/regen_vectors.py 2>&1 | tee "$ARTIFACTS/cluster-vectors.log" | tail -15
[[ ${PIPESTATUS[0]} -eq 0 ]] || rc=1
RTIO_REQUIRE_REDIS=1 .venv/bin/pytest tests/cluster -q -p no:cacheprovider -rs || rc=1
exit $rc
