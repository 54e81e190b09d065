#!/usr/bin/env bash
# One-off check on a machine with an NVIDIA GPU (not part of CI): build with `cuda`, run
# the engine equivalence tests on the CUDA device (masked == naive, one-hot supernet ==
# derived network, single path == masked, the kernels' fallbacks), then `dmasking bench`
# on it for both op-sharing modes and both weight steps. Prints everything; writes the
# bench JSON to ${OUT:-gpu-check}/ for docs/PERFORMANCE.md (and a headline row in the README).
#
#   scripts/gpu-check.sh [SPACE] [BATCH]      defaults: configs/cifar10.json 64
#
# Needs a network connection at build time, or a prepared cache: Burn's cuda backend
# (cubecl-cuda → cubecl-llvm) downloads an LLVM bundle in its build script
# (tracel-llvm-bundler, into ~/.local/share/tracel/). Not yet run by this project.
set -euo pipefail
cd "$(dirname "$0")/.."
SPACE=${1:-configs/cifar10.json}
BATCH=${2:-64}
OUT=${OUT:-gpu-check}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
time cargo build --release --features cuda --tests --bins 2>&1 | tail -3
DMASKING_TEST_DEVICE=cuda cargo test --release --features cuda --test tests -- supernet:: kernels:: \
    2>&1 | tee "$OUT/tests.txt" | grep -E "^test |test result"
for variant in branches:masked superkernel:masked branches:single-path; do
    sharing=${variant%%:*}
    step=${variant##*:}
    target/release/dmasking bench --device cuda --space "$SPACE" --batch-size "$BATCH" \
        --steps 5 --op-sharing "$sharing" --weight-step "$step" --json \
        | tee "$OUT/bench-$sharing-$step.json"
done
