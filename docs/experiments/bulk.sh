#!/usr/bin/env bash
# docs/RESULTS.md, "In the bulk of the space": a budget search at 6 MFLOPs (soft Gumbel,
# as the paper) and, for the remedy check, the same with hard (straight-through) samples;
# three random architectures matched to the soft search's FLOPs; all retrained with the
# recipe of results.sh; then the comparison.
#   bash docs/experiments/bulk.sh DATA_DIR
set -euo pipefail
D=${1:?usage: bulk.sh DATA_DIR}
B=target/release/dmasking
cargo build --release
S=(--space configs/cifar10.json --data "$D" --epochs 5 --max-images 10000
   --op-sharing superkernel --arch-every 4 --loss budget --budget-mflops 6)
$B search "${S[@]}" --out runs/b6 --config docs/experiments/annealed.json
$B search "${S[@]}" --out runs/hard6 --config docs/experiments/hard.json
FLOPS=$(grep -o '"exact_flops": *[0-9]*' runs/b6/arch.json | grep -o '[0-9]*$')
M=$(awk -v f="$FLOPS" 'BEGIN { printf "%.6f", f / 1e6 }')
$B random --space configs/cifar10.json --count 3 --match-mflops "$M" --tolerance 0.05 \
    --seed 0 --out runs/random6
R=(--data "$D" --epochs 10 --max-images 10000 --seed 0 --force)
$B train --arch runs/b6/arch.json "${R[@]}" --out runs/t-b6
$B train --arch runs/hard6/arch.json "${R[@]}" --out runs/t-hard6
for k in 0 1 2; do
    $B train --arch runs/random6/random_$k.json "${R[@]}" --out runs/t-r6-$k
done
for r in b6 hard6 r6-0 r6-1 r6-2; do
    $B eval --run runs/t-$r --data "$D" --weights last
done
$B report --compare runs/t-b6 runs/t-hard6 runs/t-r6-0 runs/t-r6-1 runs/t-r6-2 \
    --out docs/results/bulk6
# The second training seed (another subset, initialization and order).
R1=(--data "$D" --epochs 10 --max-images 10000 --seed 1 --force)
$B train --arch runs/b6/arch.json "${R1[@]}" --out runs/s1-b6
for k in 0 1 2; do
    $B train --arch runs/random6/random_$k.json "${R1[@]}" --out runs/s1-r6-$k
done
