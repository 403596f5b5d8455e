#!/usr/bin/env bash
# Builds the browser app into frontend/dist:
# 1. the three wasm bins in the workspace's wasm-release profile: the app and the search
#    worker in one cargo build without burn, the text worker in a second with the text
#    encoder and WebGPU (`webgpu`); burn compiles once, for the text worker alone;
# 2. wasm-bindgen: the app as an ES module (`--target web`), the workers as classic
#    scripts (`--target no-modules`: yew-agent starts them with importScripts and calls
#    `wasm_bindgen("<name>_bg.wasm")`);
# 3. wasm-opt -Oz on each module (binaryen 132 from npm: Debian's is too old);
# 4. content-hashed names for the app's JS, wasm and CSS (`<stem>-<16 hex>`, which
#    static-server serves `immutable`), index.html and the embed script filled in with them;
# 5. `.br` and `.gz` beside each file (frontend/compress.mjs, node's zlib), which hosts that
#    serve precompressed variants (static-server) send to browsers that accept them.
# The result is staged beside dist and swapped in at the end: a served dist is never half
# new. When cargo's modules and the page's files are what the current dist was made from,
# the rest is skipped (dist/.inputs), so a rerun with nothing changed takes seconds.
# Needs the wasm32-unknown-unknown target, wasm-bindgen-cli at the Cargo.lock version and
# npm (scripts/install-tools).
#
#   frontend/build.sh [--help]
set -euo pipefail
case "${1:-}" in
    -h|--help) sed -n '2,20p' "$0" | cut -c3-; exit 0 ;;
    "") ;;
    *) echo "frontend/build.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
esac
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
cd "$here"

[ -x node_modules/.bin/wasm-opt ] || npm ci --no-audit --no-fund
export PATH="$PWD/node_modules/.bin:$PATH"

profile=wasm-release
bins=(app worker text-worker)
target_dir=${CARGO_TARGET_DIR:-$root/target}
[[ $target_dir = /* ]] || target_dir=$root/$target_dir
build() { cargo build --locked --profile "$profile" --target wasm32-unknown-unknown -p frontend "$@"; }
build --bin app --bin worker
build --bin text-worker --features webgpu
out=$target_dir/wasm32-unknown-unknown/$profile

# Everything dist is made from: cargo's modules, the page's files, the tools' versions.
page_files=(index.html style.css sw.js embed.js build.sh compress.mjs)
inputs=$( (cd "$out" && sha256sum "${bins[@]/%/.wasm}"); sha256sum "${page_files[@]}"; wasm-bindgen --version; wasm-opt --version)
if [ "$(cat dist/.inputs 2>/dev/null)" = "$inputs" ]; then
    echo "frontend/dist is up to date"
    exit 0
fi

stage=$(mktemp -d "$here/.dist-XXXXXX")
trap 'rm -rf "$stage"' EXIT
hash16() { sha256sum "$1" | cut -c1-16; }

for bin in "${bins[@]}"; do
    if [ "$bin" = app ]; then target=web; else target=no-modules; fi
    wasm-bindgen --target "$target" --no-typescript --out-dir "$stage" --out-name "$bin" "$out/$bin.wasm"
    wasm-opt -Oz "$stage/${bin}_bg.wasm" -o "$stage/${bin}_bg.opt.wasm"
    mv "$stage/${bin}_bg.opt.wasm" "$stage/${bin}_bg.wasm"
done
[ ! -d "$stage/snippets" ] || { echo "frontend/build.sh: wasm-bindgen wrote JS snippets, which this script does not place" >&2; exit 1; }

# The workers keep their bin names (the app names them at run time); the rest is hashed.
app_name=app-$(hash16 "$stage/app_bg.wasm")
mv "$stage/app_bg.wasm" "$stage/${app_name}_bg.wasm"
mv "$stage/app.js" "$stage/$app_name.js"
style_name=style-$(hash16 style.css).css
cp style.css "$stage/$style_name"
cp sw.js "$stage/"
fill() {
    sed -e "s/@APP_JS@/$app_name.js/g" -e "s/@APP_WASM@/${app_name}_bg.wasm/g" \
        -e "s/@APP_CSS@/$style_name/g" "$1" >"$2"
}
fill index.html "$stage/index.html"
fill embed.js "$stage/clip-branches.js"
node compress.mjs "$stage"
printf '%s\n' "$inputs" >"$stage/.inputs"
chmod -R a+rX "$stage"

# Swap: the old dist goes aside, the new one takes its name, the old one is removed.
old=
if [ -d dist ]; then
    old=$(mktemp -d "$here/.dist-old-XXXXXX")
    mv dist "$old/"
fi
mv "$stage" dist
trap - EXIT
[ -z "$old" ] || rm -rf "$old"

for f in dist/*.wasm; do
    printf '%s: %s bytes, %s gzip, %s brotli\n' "$f" "$(stat -c %s "$f")" "$(stat -c %s "$f.gz")" "$(stat -c %s "$f.br")"
done
