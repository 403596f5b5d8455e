#!/usr/bin/env bash
# Tests scripts/install-tools with no network and nothing installed for real: each case
# runs it on a PATH of stub commands (apt-get, rustup and cargo record what they are asked
# for; an install puts a stub of the tool on PATH) and checks what was asked and how it
# ended.
#
#   scripts/tests/install-tools.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
script=$root/scripts/install-tools
lock_version=$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/[^0-9.]/, ""); print; exit}' "$root/Cargo.lock")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The system commands install-tools itself uses, taken from this machine.
system_commands=(bash env cat cut dirname grep awk head id sed mkdir chmod)

# stub NAME OUTPUT: a command that prints OUTPUT for any arguments and exits 0.
stub() { printf '#!/usr/bin/env bash\necho "%s"\n' "$2" >"$bin/$1" && chmod +x "$bin/$1"; }

# Every tool present at a good version; a case then removes or breaks what it needs.
setup() {
    case_dir=$work/$1
    bin=$case_dir/bin
    mkdir -p "$bin"
    for command in "${system_commands[@]}"; do ln -s "$(command -v "$command")" "$bin/$command"; done
    : >"$case_dir/asked"
    printf 'x86_64-unknown-linux-gnu\nwasm32-unknown-unknown\n' >"$case_dir/targets"
    cat >"$bin/apt-get" <<EOF
#!/usr/bin/env bash
echo "apt-get \$*" >>"$case_dir/asked"
[ "\$1" = install ] || exit 0
if [ -e "$case_dir/apt-fails" ]; then
    echo "E: Unable to correct problems, you have held broken packages." >&2
    exit 100
fi
for package in "\$@"; do
    case "\$package" in
        chromium) tool=chromium ;; chromium-driver) tool=chromedriver ;; nodejs) tool=node ;;
        npm|curl|python3) tool=\$package ;; *) continue ;;
    esac
    # A "broken" package installs a tool that does not run.
    if [ -e "$case_dir/broken-\$tool" ]; then exit_code=1; else exit_code=0; fi
    printf '#!/usr/bin/env bash\necho "%s 1.0"\nexit %s\n' "\$tool" "\$exit_code" >"$bin/\$tool"
    chmod +x "$bin/\$tool"
done
EOF
    cat >"$bin/rustup" <<EOF
#!/usr/bin/env bash
echo "rustup \$*" >>"$case_dir/asked"
case "\$1 \$2" in
    "target list") cat "$case_dir/targets" ;;
    "target add") echo "\$3" >>"$case_dir/targets" ;;
esac
EOF
    cat >"$bin/cargo" <<EOF
#!/usr/bin/env bash
case "\$1" in
    fmt|clippy) echo "\$1 1.0" ;;
    install)
        echo "cargo \$*" >>"$case_dir/asked"
        # The version is the last argument (after --version).
        printf '#!/usr/bin/env bash\necho "wasm-bindgen %s"\n' "\${@: -1}" >"$bin/wasm-bindgen"
        printf '#!/usr/bin/env bash\necho "wasm-bindgen-test-runner %s"\n' "\${@: -1}" >"$bin/wasm-bindgen-test-runner"
        chmod +x "$bin/wasm-bindgen" "$bin/wasm-bindgen-test-runner" ;;
    *) echo "cargo stub: unexpected \$*" >&2; exit 1 ;;
esac
EOF
    chmod +x "$bin/apt-get" "$bin/rustup" "$bin/cargo"
    stub wasm-bindgen "wasm-bindgen $lock_version"
    stub wasm-bindgen-test-runner "wasm-bindgen-test-runner $lock_version"
    for tool in chromium chromedriver node npm curl python3; do stub "$tool" "$tool 1.0"; done
}

# run: install-tools on the case's PATH; its status in $status, its output in $output.
run() {
    set +e
    output=$(PATH=$bin "$bin/bash" "$script" 2>&1)
    status=$?
    set -e
}

failures=0
check() { # DESCRIPTION CONDITION...
    local description=$1
    shift
    if "$@"; then
        printf '  ok: %s\n' "$description"
    else
        printf '  FAILED: %s\n' "$description"
        printf '    asked: %s\n' "$(tr '\n' ';' <"$case_dir/asked")"
        printf '    output:\n%s\n' "$(sed 's/^/      /' <<<"$output")"
        failures=$((failures + 1))
    fi
}
asked() { cat "$case_dir/asked"; }
apt_install_line() { grep '^apt-get install' "$case_dir/asked" || true; }

echo "case: everything present"
setup present
run
check "exits 0" test "$status" = 0
check "asks nothing of apt, cargo or rustup target add" test -z "$(grep -v '^rustup target list' "$case_dir/asked")"

echo "case: Chromium and ChromeDriver missing, Node.js present"
setup no-chromium
rm "$bin/chromium" "$bin/chromedriver"
run
check "exits 0" test "$status" = 0
check "apt installs chromium and chromium-driver only" test "$(apt_install_line)" = "apt-get install -y -qq chromium chromium-driver"
check "apt-get update ran first" test "$(grep -n '^apt-get' "$case_dir/asked" | head -1 | cut -d: -f2)" = "apt-get update -qq"
check "chromium runs afterwards" bash -c "'$bin/chromium' --version >/dev/null"

echo "case: ChromeDriver alone missing"
setup no-driver
rm "$bin/chromedriver"
run
check "apt installs chromium-driver only" test "$(apt_install_line)" = "apt-get install -y -qq chromium-driver"

echo "case: Node.js and npm missing"
setup no-node
rm "$bin/node" "$bin/npm"
run
check "exits 0" test "$status" = 0
check "apt installs nodejs and npm only" test "$(apt_install_line)" = "apt-get install -y -qq nodejs npm"

echo "case: npm missing beside a working Node.js"
setup no-npm
rm "$bin/npm"
touch "$case_dir/apt-fails"
run
check "exits non-zero" test "$status" != 0
check "never asks apt for nodejs" bash -c "! grep -q nodejs '$case_dir/asked'"
check "the message says to take npm from node's own source" grep -q "install npm from the same source as node" <<<"$output"

echo "case: apt fails"
setup apt-fails
rm "$bin/chromium" "$bin/chromedriver"
touch "$case_dir/apt-fails"
run
check "exits non-zero" test "$status" != 0
check "the message names the tools and the command" grep -q 'could not install chromium, chromedriver: `apt-get install -y chromium chromium-driver` failed' <<<"$output"
check "apt's own message is shown" grep -q "held broken packages" <<<"$output"

echo "case: an install that leaves a tool that does not run, then a rerun"
setup broken
rm "$bin/chromium" "$bin/chromedriver"
touch "$case_dir/broken-chromium"
run
check "exits non-zero" test "$status" != 0
check "the message names chromium and its check" grep -q 'could not install chromium: `chromium --version` failed' <<<"$output"
rm "$case_dir/broken-chromium"
: >"$case_dir/asked"
run
check "the rerun asks apt for chromium again" test "$(apt_install_line)" = "apt-get install -y -qq chromium"
check "the rerun exits 0" test "$status" = 0

echo "case: wasm target missing, wasm-bindgen at another version"
setup rust
printf 'x86_64-unknown-linux-gnu\n' >"$case_dir/targets"
stub wasm-bindgen "wasm-bindgen 0.2.1"
run
check "exits 0" test "$status" = 0
check "rustup adds the wasm32 target" grep -qx "rustup target add wasm32-unknown-unknown" "$case_dir/asked"
check "cargo installs wasm-bindgen-cli at the Cargo.lock version, over the one its records hold" grep -qx "cargo install --force wasm-bindgen-cli --version $lock_version" "$case_dir/asked"
check "apt is not asked" test -z "$(apt_install_line)"

if [ "$failures" -gt 0 ]; then
    echo "install-tools tests: $failures failed"
    exit 1
fi
echo "install-tools tests: all passed"
