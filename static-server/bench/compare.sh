#!/usr/bin/env bash
# Compares static-server with nginx (Debian package) on loopback, serving the same files:
# requests per second, p99 latency and server CPU time per request for a 4 KB file and
# for 1 MB range reads of a 64 MB file (wrk), then resident memory under 10,000 idle
# connections. Installs nginx and wrk if missing; stops everything it started.
# Loopback only.
#
# Both servers use every CPU: nginx `worker_processes auto` (one process per CPU),
# static-server tokio's multi-thread runtime (one worker thread per CPU). Each load runs
# ROUNDS times, the two servers alternating, so that both see the same background load;
# the ratio columns compare the two runs of a round. On a busy machine compare the
# ratios and the CPU per request, not the absolute numbers.
#
# Settings (environment): DURATION (seconds per load, default 10), ROUNDS (default 2),
# CONNECTIONS (wrk connections, default 64), THREADS (wrk threads, default 1), IDLE
# (idle connections, default 10000).
set -euo pipefail
cd "$(dirname "$0")/../.."

DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-2}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-1}
IDLE=${IDLE:-10000}
OURS_PORT=18481
NGINX_PORT=18482

log() { printf '== %s\n' "$*" >&2; }

if ! command -v nginx >/dev/null || ! command -v wrk >/dev/null; then
    log "installing nginx and wrk"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq nginx wrk >/dev/null
fi
command -v python3 >/dev/null || { echo "python3 is needed for the idle-connection client" >&2; exit 1; }

# Idle connections need file descriptors on both sides: raise the soft limit as far as
# the hard limit lets (containers often cap the hard limit).
nofile=$(ulimit -Hn)
[ "$nofile" = unlimited ] && nofile=65536
[ "$nofile" -gt 65536 ] && nofile=65536
ulimit -n "$nofile"
if [ "$nofile" -lt $((IDLE + 100)) ]; then
    echo "need $((IDLE + 100)) file descriptors, the hard limit is $nofile" >&2
    exit 1
fi

log "building static-server (release)"
cargo build --release --quiet -p static-server
server_binary=$PWD/target/release/static-server

work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

log "writing files to $work"
mkdir -p "$work/dist" "$work/data/ds" "$work/nginx"
echo '<!doctype html><title>clip-branches</title>' > "$work/dist/index.html"
small=ds/small.0123456789abcdef.bin
big=ds/big.3f2a9c0d1e2b4a5c.shard
head -c 4096 /dev/urandom > "$work/data/$small"
head -c $((64 * 1024 * 1024)) /dev/urandom > "$work/data/$big"
chmod -R a+rX "$work"

# The same contract as static-server: cache and isolation headers, ETag, ranges.
cat > "$work/nginx/nginx.conf" <<NGINX
worker_processes auto;
worker_rlimit_nofile $nofile;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 16384; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 120s;
    client_header_timeout 120s;
    types { application/octet-stream shard bin; text/html html; }
    client_body_temp_path $work/nginx/tmp;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        location / { root $work/dist; try_files \$uri \$uri/ /index.html; }
        location /data/ {
            alias $work/data/;
            add_header Cache-Control "public, max-age=31536000, immutable" always;
            add_header Cross-Origin-Opener-Policy same-origin always;
            add_header Cross-Origin-Embedder-Policy require-corp always;
        }
    }
}
NGINX

log "starting nginx on 127.0.0.1:$NGINX_PORT"
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -g 'daemon off;' &
pids+=($!)
nginx_master=$!
log "starting static-server on 127.0.0.1:$OURS_PORT"
RUST_LOG=warn "$server_binary" --dist "$work/dist" --data "$work/data" \
    --addr "127.0.0.1:$OURS_PORT" --max-connections $((IDLE + 2000)) --header-timeout-secs 120 &
pids+=($!)
ours_pid=$!

for port in $OURS_PORT $NGINX_PORT; do
    for _ in $(seq 1 50); do
        curl -sf -o /dev/null "http://127.0.0.1:$port/data/$small" && break
        sleep 0.1
    done
done

# wrk script for 1 MB range reads at random 1 MB-aligned offsets of the 64 MB file.
cat > "$work/range.lua" <<'LUA'
math.randomseed(42)
request = function()
    local first = math.random(0, 63) * 1048576
    wrk.headers["Range"] = "bytes=" .. first .. "-" .. (first + 1048575)
    return wrk.format("GET", wrk.path)
end
LUA

# CPU time (user + system) of the given pids and all their threads, in clock ticks.
cpu_ticks() {
    local total=0 pid stat
    for pid in "$@"; do
        for stat in /proc/"$pid"/task/*/stat; do
            total=$((total + $(awk '{print $14 + $15}' "$stat")))
        done
    done
    echo $total
}

# Runs wrk against url (extra wrk arguments after --) and prints
# "rps p99_ms cpu_us_per_request" where the CPU is that of the server pids.
measure() {
    local url=$1; shift
    local pids=() extra=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do pids+=("$1"); shift; done
    [ $# -gt 0 ] && shift
    extra=("$@")
    local output before after
    before=$(cpu_ticks "${pids[@]}")
    output=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency "${extra[@]}" "$url")
    after=$(cpu_ticks "${pids[@]}")
    if grep -q "Non-2xx" <<<"$output"; then
        echo "wrk saw non-2xx answers from $url:" >&2
        echo "$output" >&2
        exit 1
    fi
    local rps p99 requests
    rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$output")
    requests=$(awk '/requests in/ {print $1}' <<<"$output")
    p99=$(awk '$1 == "99%" {v = $2; if (v ~ /us$/) {sub(/us$/, "", v); v /= 1000} else if (v ~ /ms$/) {sub(/ms$/, "", v)} else if (v ~ /s$/) {sub(/s$/, "", v); v *= 1000}; print v}' <<<"$output")
    awk -v r="$rps" -v p="$p99" -v t=$((after - before)) -v n="$requests" -v hz="$(getconf CLK_TCK)" \
        'BEGIN { printf "%s %s %.1f\n", r, p, t * 1e6 / hz / n }'
}

rss_kib() { # sum of VmRSS over the given pids
    local total=0 pid
    for pid in "$@"; do
        total=$((total + $(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")))
    done
    echo $total
}

fd_count() { # open descriptors of the given pids
    local total=0 pid
    for pid in "$@"; do total=$((total + $(ls /proc/"$pid"/fd | wc -l))); done
    echo $total
}

nginx_pids() { echo "$nginx_master" $(pgrep -P "$nginx_master"); }

echo
echo "static-server: tokio multi-thread runtime, $(nproc) worker threads; nginx: worker_processes auto ($(nproc) workers), sendfile on"
echo "wrk: $THREADS thread(s), $CONNECTIONS connections, ${DURATION} s per run; CPU = server user+system time per request"
printf '%-24s %10s %8s %8s %10s %8s %8s %7s %7s %7s\n' test "ours rps" "p99 ms" "CPU us" "nginx rps" "p99 ms" "CPU us" "rps x" "p99 x" "CPU x"
for test in small range; do
    if [ $test = small ]; then path=/data/$small; extra=(); label="4 KB file"
    else path=/data/$big; extra=(-s "$work/range.lua"); label="1 MB range of 64 MB"; fi
    for round in $(seq 1 "$ROUNDS"); do
        read -r ours_rps ours_p99 ours_cpu < <(measure "http://127.0.0.1:$OURS_PORT$path" "$ours_pid" -- "${extra[@]}")
        read -r nginx_rps nginx_p99 nginx_cpu < <(measure "http://127.0.0.1:$NGINX_PORT$path" $(nginx_pids) -- "${extra[@]}")
        awk -v l="$label, round $round" -v a="$ours_rps" -v b="$ours_p99" -v c="$ours_cpu" \
            -v d="$nginx_rps" -v e="$nginx_p99" -v f="$nginx_cpu" \
            'BEGIN { printf "%-24s %10.0f %8.2f %8.1f %10.0f %8.2f %8.1f %7.2f %7.2f %7.2f\n", l, a, b, c, d, e, f, a / d, b / e, c / f }'
    done
done

# Idle connections: a client opens them all, holds them, and RSS is read meanwhile.
cat > "$work/idle.py" <<'PY'
import socket, sys, time
port, count, ready = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
sockets = [socket.create_connection(("127.0.0.1", port)) for _ in range(count)]
open(ready, "w").close()
time.sleep(30)
for s in sockets:
    s.close()
PY

idle_rss() { # port, pids... -> "before after"
    local port=$1; shift
    local before after fds_before ready=$work/ready.$port
    before=$(rss_kib "$@")
    fds_before=$(fd_count "$@")
    python3 "$work/idle.py" "$port" "$IDLE" "$ready" &
    local client=$!
    for _ in $(seq 1 200); do [ -e "$ready" ] && break; sleep 0.1; done
    # A connection the client sees as open may still sit in the listen backlog: wait
    # until the server holds them all (one descriptor each), then a moment more.
    for _ in $(seq 1 100); do
        [ "$(fd_count "$@")" -ge $((fds_before + IDLE)) ] && break
        sleep 0.2
    done
    sleep 1
    after=$(rss_kib "$@")
    [ "$(fd_count "$@")" -ge $((fds_before + IDLE)) ] || echo "warning: port $port holds only $(( $(fd_count "$@") - fds_before )) of $IDLE connections" >&2
    kill "$client" 2>/dev/null || true
    wait "$client" 2>/dev/null || true
    echo "$before $after"
}
read -r ours_before ours_after < <(idle_rss $OURS_PORT "$ours_pid")
read -r nginx_before nginx_after < <(idle_rss $NGINX_PORT $(nginx_pids))
printf '\n%-22s %14s %14s %18s\n' "RSS, $IDLE idle" "before MiB" "with MiB" "KiB per conn"
for row in "static-server $ours_before $ours_after" "nginx $nginx_before $nginx_after"; do
    set -- $row
    awk -v l="$1" -v a="$2" -v b="$3" -v n="$IDLE" \
        'BEGIN { printf "%-22s %14.1f %14.1f %18.2f\n", l, a / 1024, b / 1024, (b - a) / n }'
done
