#!/usr/bin/env bash
# Builds the browser app into frontend/dist: trunk (release, the workspace's wasm-release
# profile, wasm-opt -Oz on both bundles), offline with the tool versions Trunk.toml pins.
# Needs trunk 0.21.14 (`cargo install trunk --version 0.21.14 --locked`), wasm-bindgen-cli
# 0.2.130, the wasm32-unknown-unknown target and npm (for binaryen's wasm-opt 132).
set -euo pipefail
cd "$(dirname "$0")"
[ -x node_modules/.bin/wasm-opt ] || npm ci --no-audit --no-fund
export PATH="$PWD/node_modules/.bin:$PATH"
# trunk's offline mode makes cargo offline too: fetch first.
cargo fetch --target wasm32-unknown-unknown
trunk build --release
# The embed script (<clip-branches-search>, embed.js) names the hashed app files trunk wrote.
sed -e "s/@APP_JS@/$(cd dist && ls app-*.js)/" -e "s/@APP_WASM@/$(cd dist && ls app-*_bg.wasm)/" \
    -e "s/@APP_CSS@/$(cd dist && ls style-*.css)/" embed.js >dist/clip-branches.js
for f in dist/*.wasm; do
    printf '%s: %s bytes, %s gzipped\n' "$f" "$(stat -c %s "$f")" "$(gzip -9c "$f" | wc -c)"
done
