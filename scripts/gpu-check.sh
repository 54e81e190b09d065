#!/usr/bin/env bash
# One-off check on a machine with a GPU (not part of CI): the engine equivalence tests on
# the GPU device (masked == naive, one-hot supernet == derived network, single path ==
# masked, the kernels' fallbacks), then `dmasking bench` on it for both op-sharing modes
# and both weight steps. Prints everything; writes the outputs to ${OUT:-gpu-check}/ for
# docs/PERFORMANCE.md.
#
#   [BACKEND=cuda|wgpu] [PREBUILT=DIR] scripts/gpu-check.sh [SPACE] [BATCH]
#       defaults: cuda, configs/cifar10.json 64
#
# BACKEND=cuda builds with `--features cuda`, which needs a network connection at build
# time: Burn's cuda backend (cubecl-cuda -> cubecl-llvm -> tracel-llvm-bundler) downloads
# an LLVM bundle from GitHub in its build script (into ~/.local/share/tracel/). Where the
# build machine cannot reach GitHub and the GPU machine has no Rust toolchain, use
# BACKEND=wgpu (Vulkan; no download) with binaries built elsewhere:
#   CARGO_TARGET_DIR=T cargo build --release --features wgpu --tests --bins
#   PREBUILT=DIR holds T/release/dmasking and the test binary T/release/deps/tests-* as
#   DIR/dmasking and DIR/tests (the tests find configs/ through the path the binary was
#   built at: run from that path, or link it there).
# Each part has its own time limit (each bench PART_S seconds, default 240; the tests
# TEST_S, default PART_S), so one slow part cannot eat the others.
set -uo pipefail
cd "$(dirname "$0")/.."
SPACE=${1:-configs/cifar10.json}
BATCH=${2:-64}
OUT=${OUT:-gpu-check}
BACKEND=${BACKEND:-cuda}
PART_S=${PART_S:-240}
TEST_S=${TEST_S:-$PART_S}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
if [ -n "${PREBUILT:-}" ]; then
    B=$PREBUILT/dmasking
    T=$PREBUILT/tests
else
    time cargo build --release --features "$BACKEND" --tests --bins 2>&1 | tail -3
    B=target/release/dmasking
    T="cargo test --release --features $BACKEND --test tests --"
fi
bench() {
    sharing=${1%%:*}
    step=${1##*:}
    timeout "$PART_S" "$B" bench --device "$BACKEND" --space "$SPACE" --batch-size "$BATCH" \
        --steps 5 --op-sharing "$sharing" --weight-step "$step" --json \
        > "$OUT/bench-$sharing-$step.json" 2> "$OUT/bench-$sharing-$step.err"
    echo "bench $1: exit $?"; cat "$OUT/bench-$sharing-$step.json"; tail -3 "$OUT/bench-$sharing-$step.err"
}
bench branches:masked
DMASKING_TEST_DEVICE=$BACKEND timeout "$TEST_S" $T supernet:: kernels:: > "$OUT/tests.txt" 2>&1
echo "tests: exit $?"
grep -E "^test |test result|panicked" "$OUT/tests.txt"
bench superkernel:masked
bench branches:single-path
