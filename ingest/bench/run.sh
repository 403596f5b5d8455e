#!/usr/bin/env bash
# Ingest + thumbnail throughput: generates N gradient JPEGs (default 10,000) with the
# make_jpegs example, then times `precompute ingest` on them (fresh output folder, so
# every thumbnail is made). Prints images/s as precompute reports it and from wall time.
#   ingest/bench/run.sh [N] [PROFILE]    PROFILE: release (default) or dev
set -euo pipefail
N=${1:-10000}
PROFILE=${2:-release}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=${BENCH_DIR:-$ROOT/target/ingest-bench}
cd "$ROOT"
if [ "$PROFILE" = release ]; then FLAG=--release; DIR=release; else FLAG=; DIR=debug; fi
cargo build $FLAG -p precompute --bin precompute
cargo build $FLAG -p ingest --example make_jpegs
if [ ! -d "$WORK/jpegs-$N" ]; then
  "target/$DIR/examples/make_jpegs" "$WORK/jpegs-$N.tmp" "$N"
  mv "$WORK/jpegs-$N.tmp" "$WORK/jpegs-$N"
fi
rm -rf "$WORK/out"
echo "machine: $(nproc) cores; input: $(du -sh "$WORK/jpegs-$N" | cut -f1) in $N JPEGs"
START=$(date +%s.%N)
"target/$DIR/precompute" ingest --input "$WORK/jpegs-$N" --out "$WORK/out"
END=$(date +%s.%N)
echo "wall: $(echo "$END - $START" | bc) s, $(echo "$N / ($END - $START)" | bc) images/s ($PROFILE profile)"
echo "thumbnails: $(du -sh "$WORK/out/thumbs" | cut -f1)"
