#!/usr/bin/env bash
# The deployment recipes of docs/deploy/, run for real on loopback (docs/DEPLOYMENT.md):
# - nginx.conf: nginx (Debian's, installed here when missing) terminating TLS in front of
#   `rtio serve`; python-socketio's client and the npm socket.io-client (tests/node's) connect
#   through it over long-polling, over WebSocket and polling upgraded to WebSocket
#   (tests/deploy/check_proxy.py and .mjs: TLS verified, acks both ways, binary, the page's
#   Origin accepted, X-Forwarded-For/Proto seen by rtio); plain HTTP redirects to HTTPS;
# - Caddyfile: the same through Caddy (`tls internal`), when Debian has caddy;
# - rtio-chat.service: `systemd-analyze verify`, when systemd-analyze is there.
# The files are used as they are, with only names, ports and paths replaced by sed; each
# replacement must match (a drifted file fails the stage). The Containerfile is not built
# here (no container engine).
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cd "$ROOT"
OUT="$ARTIFACTS/deploy"
rm -rf "$OUT" && mkdir -p "$OUT"
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
  rm -rf "$WORK"
}
trap cleanup EXIT

as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }
apt_install() {  # apt_install PACKAGE...: quietly; fails when apt cannot
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "$@" \
    >>"$OUT/apt.log" 2>&1
}
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
if [[ ! -x $NGINX ]] || ! command -v caddy >/dev/null; then
  as_root apt-get update -qq >/dev/null 2>&1
fi
if [[ ! -x $NGINX ]]; then
  echo "installing Debian's nginx"
  apt_install nginx || { echo "apt-get install nginx failed: see $OUT/apt.log"; exit 1; }
fi
if ! command -v caddy >/dev/null && apt-cache policy caddy 2>/dev/null | grep -q 'Candidate: [0-9]'; then
  echo "installing Debian's caddy"
  apt_install caddy || echo "apt-get install caddy failed: the Caddy check is skipped"
fi

# replace FILE PATTERN REPLACEMENT...: sed each pair on a copy, failing if one matches nothing
render() {
  local src=$1 dst=$2; shift 2
  cp "$src" "$dst"
  while [[ $# -gt 0 ]]; do
    grep -qF -- "$1" "$dst" || { echo "render: '$1' is not in $src any more"; return 1; }
    python3 - "$dst" "$1" "$2" <<'PY' || return 1
import sys
path, old, new = sys.argv[1:]
text = open(path).read()
open(path, "w").write(text.replace(old, new))
PY
    shift 2
  done
}

wait_port() {  # wait_port PORT PID LOG
  for _ in $(seq 150); do
    "$PY" -c "import socket; socket.create_connection(('127.0.0.1', $1), 0.5).close()" 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || { echo "process $2 exited:"; cat "$3"; return 1; }
    sleep 0.1
  done
  echo "nothing listens on $1"; cat "$3"; return 1
}

# a certificate for 127.0.0.1, its own CA (the client verifies it)
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=127.0.0.1" \
  -addext "subjectAltName=IP:127.0.0.1" -keyout "$WORK/key.pem" -out "$WORK/cert.pem" \
  >"$OUT/openssl.log" 2>&1 || { cat "$OUT/openssl.log"; exit 1; }

RTIO_PORT=$(free_port)
(cd tests/deploy && exec "$ROOT/.venv/bin/rtio" serve app:sio --port "$RTIO_PORT") \
  >"$OUT/rtio.log" 2>&1 &
PIDS+=($!)
wait_port "$RTIO_PORT" $! "$OUT/rtio.log" || exit 1
rc=0

# ---- nginx
HTTPS_PORT=$(free_port); HTTP_PORT=$(free_port)
mkdir -p "$WORK/nginx/logs"
render docs/deploy/nginx.conf "$WORK/nginx/site.conf" \
  "listen 443 ssl;" "listen 127.0.0.1:$HTTPS_PORT ssl;" \
  "listen 80;" "listen 127.0.0.1:$HTTP_PORT;" \
  "server 127.0.0.1:8000;" "server 127.0.0.1:$RTIO_PORT;" \
  "/etc/letsencrypt/live/chat.example.com/fullchain.pem" "$WORK/cert.pem" \
  "/etc/letsencrypt/live/chat.example.com/privkey.pem" "$WORK/key.pem" \
  "root /srv/chat/www;" "root $WORK/www;" || exit 1
mkdir -p "$WORK/www" && echo "the web app" >"$WORK/www/index.html"
cat >"$WORK/nginx/nginx.conf" <<CONF
pid $WORK/nginx/nginx.pid;
error_log $OUT/nginx-error.log info;
events {}
http {
    access_log $OUT/nginx-access.log;
    client_body_temp_path $WORK/nginx/body;
    proxy_temp_path $WORK/nginx/proxy;
    include $WORK/nginx/site.conf;
}
CONF
"$NGINX" -t -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" >"$OUT/nginx-t.log" 2>&1 \
  || { echo "nginx -t refused docs/deploy/nginx.conf:"; cat "$OUT/nginx-t.log"; exit 1; }
"$NGINX" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -g "daemon off;" >"$OUT/nginx.log" 2>&1 &
PIDS+=($!)
wait_port "$HTTPS_PORT" $! "$OUT/nginx.log" || exit 1
"$PY" tests/deploy/check_proxy.py nginx "https://127.0.0.1:$HTTPS_PORT" "$WORK/cert.pem" || rc=1
(cd tests/node && timeout 60 node ../deploy/check_proxy.mjs nginx "https://127.0.0.1:$HTTPS_PORT" "$WORK/cert.pem") || rc=1
redirect=$("$PY" - "$HTTP_PORT" <<'PY'
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=5)
c.request("GET", "/socket.io/?EIO=4&transport=polling", headers={"Host": "chat.example.com"})
r = c.getresponse()
print(r.status, r.getheader("Location"))
PY
)
if [[ $redirect == "301 https://chat.example.com/socket.io/?EIO=4&transport=polling" ]]; then
  echo "nginx: plain HTTP redirects to HTTPS ok"
else
  echo "nginx: plain HTTP answered '$redirect', not the redirect"; rc=1
fi

# ---- Caddy
if command -v caddy >/dev/null; then
  CADDY_PORT=$(free_port)
  mkdir -p "$WORK/caddy"
  render docs/deploy/Caddyfile "$WORK/caddy/site" \
    "chat.example.com {" "https://127.0.0.1:$CADDY_PORT {
	tls internal" \
    "reverse_proxy 127.0.0.1:8000" "reverse_proxy 127.0.0.1:$RTIO_PORT" \
    "root * /srv/chat/www" "root * $WORK/www" || exit 1
  # global options for a test on loopback: no admin API, no port 80, no system trust store
  { printf '{\n\tadmin off\n\tauto_https disable_redirects\n\tskip_install_trust\n'
    printf '\tstorage file_system %s\n}\n\n' "$WORK/caddy/data"
    cat "$WORK/caddy/site"; } >"$WORK/caddy/Caddyfile"
  HOME="$WORK/caddy" XDG_DATA_HOME="$WORK/caddy" XDG_CONFIG_HOME="$WORK/caddy" \
    caddy run --config "$WORK/caddy/Caddyfile" --adapter caddyfile >"$OUT/caddy.log" 2>&1 &
  PIDS+=($!)
  wait_port "$CADDY_PORT" $! "$OUT/caddy.log" || exit 1
  ca="$WORK/caddy/data/pki/authorities/local/root.crt"
  for _ in $(seq 100); do [[ -s $ca ]] && break; sleep 0.1; done
  "$PY" tests/deploy/check_proxy.py caddy "https://127.0.0.1:$CADDY_PORT" "$ca" || rc=1
  (cd tests/node && timeout 60 node ../deploy/check_proxy.mjs caddy "https://127.0.0.1:$CADDY_PORT" "$ca") || rc=1
else
  echo "caddy: not installed here (no Debian package): its check is skipped"
fi

# ---- systemd
if command -v systemd-analyze >/dev/null; then
  render docs/deploy/rtio-chat.service "$WORK/rtio-chat.service" \
    "/srv/chat/venv/bin/rtio" "$ROOT/.venv/bin/rtio" \
    "WorkingDirectory=/srv/chat" "WorkingDirectory=$ROOT" || exit 1
  if systemd-analyze verify "$WORK/rtio-chat.service" >"$OUT/systemd-verify.log" 2>&1; then
    echo "systemd: rtio-chat.service verifies ok"
  else
    echo "systemd-analyze verify refused docs/deploy/rtio-chat.service:"; cat "$OUT/systemd-verify.log"; rc=1
  fi
else
  echo "systemd: no systemd-analyze here: the unit is not verified"
fi
exit $rc
