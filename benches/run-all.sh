#!/usr/bin/env bash
# Reproduces every figure of BENCHMARKS.md in a few minutes: the load scenarios with their same-run baselines
# (3 runs, medians), the 1M-message store queries (3 runs), and the criterion micro-benches of the hot paths.
# Results go to target/bench/ (not committed).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${RUNS:-3}"
out=target/bench
mkdir -p "$out"

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load average $(cut -d' ' -f1-3 /proc/loadavg)"
cargo build --release -p whatsapi-benches --bins

# 1. Load scenarios: accept, dispatch (sandbox, fake transport), ingest, end to end, RSS.
./target/release/bench-all --runs "$RUNS" --json "$out/results.json" | tee "$out/bench-all.txt"

# 2. Scale: the store's queries at 1,000,000 messages.
for i in $(seq 1 "$RUNS"); do
    echo "== sqlite-scale run $i (load average $(cut -d' ' -f1 /proc/loadavg))"
    ./target/release/sqlite-scale --messages 1000000 --runs 51
done 2>&1 | tee "$out/sqlite-scale.txt"

# 3. Micro-benches of the pure hot-path functions.
cargo bench -p whatsapi-benches --bench hot_paths 2>&1 | tee "$out/hot_paths.txt"

echo "done: $out/"
