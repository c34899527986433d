#!/usr/bin/env bash
# Parser fuzzing: the send request parser, the Meta webhook parser + signature check, and phone parsing.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET|all]        (defaults: 30, all)
#
# Runs the stable-toolchain runner (fuzz/src/bin/stable.rs: seeds + xorshift mutations, fixed seed, bounded by
# time and count). With FUZZ_LIBFUZZER=1 and cargo-fuzz on a nightly toolchain, runs the libFuzzer targets
# (fuzz/fuzz_targets/) for the same time instead. A failing input is saved under fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
SECS="${1:-30}"
WHICH="${2:-all}"
SEED="${FUZZ_SEED:-6842541249071497217}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/../target/fuzz}"

if [ "${FUZZ_LIBFUZZER:-0}" = 1 ]; then
  for t in parse_send meta_webhook phone; do
    [ "$WHICH" = all ] || [ "$WHICH" = "$t" ] || continue
    mkdir -p "corpus/$t"
    cargo +nightly fuzz run --features libfuzzer "$t" "corpus/$t" -- -max_total_time="$SECS" -seed=1
  done
else
  cargo run -q --release --bin fuzz-stable -- "$WHICH" "$SECS" "$SEED"
fi
