# Sourced by the browser stages (70, 72) after lib.sh: prepare_e2e installs Debian's
# chromium when /usr/bin/chromium is absent (lib.sh's install_chromium), the npm
# packages of clients/js-demo and tests/e2e, and builds the demo's bundle; run from $ROOT.

npm_ci() {  # npm_ci DIR: npm ci in DIR unless node_modules was installed from this very lock
  local want; want=$(sha256sum <"$1/package-lock.json" | cut -c1-64)
  [[ "$(cat "$1/node_modules/.rtio-lock-sha256" 2>/dev/null)" == "$want" ]] && return 0
  (cd "$1" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error) || return 1
  echo "$want" >"$1/node_modules/.rtio-lock-sha256"
}
prepare_e2e() {
  install_chromium || return 1
  npm_ci clients/js-demo || return 1
  npm_ci tests/e2e || return 1
  (cd clients/js-demo && npm run --silent build) || { echo "the demo's bundle does not build"; return 1; }
}

