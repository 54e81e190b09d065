#!/usr/bin/env bash
# docs/RESULTS.md: retrain the searched architecture and three random architectures of
# the same space with matched FLOPs (±5 %), one recipe for all, and compare them.
#   bash docs/experiments/results.sh DATA_DIR [SEARCH_RUN]
# DATA_DIR: CIFAR-10 (binary files or train/ + test/ image folders).
set -euo pipefail
D=${1:?usage: results.sh DATA_DIR [SEARCH_RUN]}
S=${2:-runs/full}
B=target/release/dmasking
cargo build --release
FLOPS=$(grep -o '"exact_flops": *[0-9]*' "$S/arch.json" | grep -o '[0-9]*$')
M=$(awk -v f="$FLOPS" 'BEGIN { printf "%.6f", f / 1e6 }')
echo "searched architecture: $M MFLOPs"
$B random --space configs/cifar10.json --count 3 --match-mflops "$M" --tolerance 0.05 \
    --seed 0 --out runs/random
# The recipe: 10 epochs over a seeded 10,000-image subset of the training set, the
# TrainConfig defaults otherwise; test on all 10,000 test images after every epoch.
R=(--data "$D" --epochs 10 --max-images 10000 --seed 0 --force)
$B train --arch "$S/arch.json" "${R[@]}" --out runs/t-searched
for k in 0 1 2; do
    $B train --arch runs/random/random_$k.json "${R[@]}" --out runs/t-random$k
done
for r in searched random0 random1 random2; do
    $B eval --run runs/t-$r --data "$D" --weights last
done
$B report --compare runs/t-searched runs/t-random0 runs/t-random1 runs/t-random2 \
    --out docs/results
