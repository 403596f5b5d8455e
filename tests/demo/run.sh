#!/usr/bin/env bash
# Exercises command 1 (`scripts/demo`) end to end: builds the demo (a smaller collection
# than the default, to keep CI short), serves it, and runs tests/demo/demo.mjs in headless
# Chromium (frontend/tests/e2e/demo.mjs). Usage: tests/demo/run.sh [--count N] [--screenshot FILE]
set -euo pipefail
cd "$(dirname "$0")/../.."
count=2000
screenshot=
while [ $# -gt 0 ]; do
    case "$1" in
        --count) count=$2; shift 2 ;;
        --screenshot) screenshot=$2; shift 2 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done
# --profile dev: precompute as the native tests built it (a release build would add minutes);
# scripts/test-all sets PRECOMPUTE to the very binary `cargo test` made.
scripts/demo --count "$count" --no-serve --profile dev
e2e=frontend/tests/e2e
[ -d "$e2e/node_modules/playwright-core" ] || (cd "$e2e" && npm ci --no-audit --no-fund)
target_dir=${CARGO_TARGET_DIR:-target}
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$target_dir/release/static-server" --dist frontend/dist --data target/demo/data --addr "127.0.0.1:$port" \
    >/dev/null 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$port/data/catalog.json" >/dev/null && break
    sleep 0.1
done
# The native benchmark on the same collection, for the browser's figures to match.
"${PRECOMPUTE:-$target_dir/debug/precompute}" eval --model demo/model --head demo/model/head.safetensors --first 0 \
    --count "$count" --rounds 1 --searchers ens >target/demo/eval.json
node "$e2e/demo.mjs" "http://127.0.0.1:$port/" target/demo/scenes/scenes.csv target/demo/eval.json \
    $screenshot
