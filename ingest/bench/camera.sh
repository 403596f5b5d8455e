#!/usr/bin/env bash
# Ingest + thumbnails of 12 MP camera JPEGs on one core: writes N generated 4000 x 3000
# 4:2:0 photos (EXIF orientation 6, about 3.2 MB each; the decode_bench example's), then
# times `precompute ingest` on them with one thread (fresh output folder, so every
# thumbnail is made) and prints images per CPU second and per wall second; then times it
# again in the same folder, where every photo's outcome is known and none is decoded.
#   ingest/bench/camera.sh [N] [FEATURES]    N: 200 (default); FEATURES: e.g. turbojpeg
set -euo pipefail
N=${1:-200}
FEATURES=${2:-}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=${BENCH_DIR:-$ROOT/target/ingest-bench}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
cd "$ROOT"
FLAGS=(--release)
if [ -n "$FEATURES" ]; then FLAGS+=(--features "$FEATURES"); fi
cargo build "${FLAGS[@]}" -p precompute --bin precompute
cargo build "${FLAGS[@]}" -p ingest --example decode_bench
if [ ! -d "$WORK/camera-$N" ]; then
  "$TARGET/release/examples/decode_bench" "$N" "$WORK/camera-$N.tmp"
  mv "$WORK/camera-$N.tmp" "$WORK/camera-$N"
fi
rm -rf "$WORK/camera-out"
echo "machine: $(nproc) cores; input: $(du -sh "$WORK/camera-$N" | cut -f1) in $N JPEGs"
# python3 times the child's CPU (user + system) and wall clock.
timed() {
  RAYON_NUM_THREADS=1 python3 - "$N" "$TARGET/release/precompute" ingest \
    --input "$WORK/camera-$N" --out "$WORK/camera-out" <<'PY'
import resource, subprocess, sys, time
n, command = int(sys.argv[1]), sys.argv[2:]
start = time.monotonic()
subprocess.run(command, check=True)
wall = time.monotonic() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
cpu = usage.ru_utime + usage.ru_stime
print(f"one thread: {n / cpu:.1f} images per CPU second ({cpu:.1f} s CPU), "
      f"{n / wall:.1f} per wall second ({wall:.1f} s)")
PY
}
timed
# The same again: every outcome is known (.work/ingest), so each photo is read and hashed
# but not decoded, as in a rebuild or the finishing build of a split one.
echo "again, every outcome known:"
timed
echo "thumbnails: $(du -sh "$WORK/camera-out/thumbs" | cut -f1)"
