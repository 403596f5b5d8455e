#!/usr/bin/env bash
# End-to-end tests of the frontend in headless Chromium against static-server: writes
# the test datasets (make_test_dataset), serves them with frontend/dist, runs e2e.mjs.
# Needs frontend/dist (built by frontend/build.sh unless it is there), node, npm and
# /usr/bin/chromium. Usage: frontend/tests/e2e/run.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
cd "$root"

[ -f frontend/dist/index.html ] || frontend/build.sh
{ [ -d "$here/node_modules/playwright-core" ] && [ -d "$here/node_modules/axe-core" ]; } ||
    (cd "$here" && npm ci --no-audit --no-fund)

work=$(mktemp -d)
server=
cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

cargo run -q --release -p frontend --example make_test_dataset -- "$work/data"
cargo build -q --release -p static-server
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# --cors for embed.test (e2e.mjs maps it to 127.0.0.1): the web component test embeds the
# app in a page of that origin.
"${CARGO_TARGET_DIR:-target}/release/static-server" --dist frontend/dist --data "$work/data" --addr "127.0.0.1:$port" \
    --cors "http://embed.test:$port" --cors-app >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$port/data/catalog.json" >/dev/null && break
    sleep 0.1
done
DATA_DIR="$work/data" node "$here/e2e.mjs" "http://127.0.0.1:$port/"
