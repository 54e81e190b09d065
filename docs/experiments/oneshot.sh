#!/usr/bin/env bash
# docs/RESULTS.md, "How the supernet ranks the networks": one-shot top-1 (inherited
# weights, BN re-estimated on 3,200 training images, 2,000 test images) of the retrained
# networks under each supernet. Needs the runs of results.sh and bulk.sh, docs/SEARCH.md's
# full search (runs/full) and RESULTS.md's annealed search (runs/annealed); adds a
# hard-sample search and two weights-only supernets (every epoch is warm-up, no
# architecture step, so the sampled subnetworks stay uniform), soft and hard samples.
#   bash docs/experiments/oneshot.sh DATA_DIR
set -euo pipefail
D=${1:?usage: oneshot.sh DATA_DIR}
B=target/release/dmasking
cargo build --release
S=(--space configs/cifar10.json --data "$D" --epochs 3 --max-images 10000
   --op-sharing superkernel --arch-every 4 --loss budget --budget-mflops 6)
# The hard-sample budget search at the random networks' mean (2.675 MFLOPs).
$B search --space configs/cifar10.json --data "$D" --out runs/hard --epochs 5 --max-images 10000 \
    --op-sharing superkernel --arch-every 4 --config docs/experiments/hard.json \
    --loss budget --budget-mflops 2.675
$B search "${S[@]}" --out runs/u-soft --config docs/experiments/uniform_soft.json
$B search "${S[@]}" --out runs/u-hard --config docs/experiments/uniform_hard.json
small=(runs/annealed/arch.json runs/full/arch.json runs/random/random_{0,1,2}.json)
bulk=(runs/b6/arch.json runs/hard6/arch.json runs/random6/random_{0,1,2}.json)
for s in full annealed hard u-soft u-hard; do
    $B score --run runs/$s --data "$D" --arch "${small[@]}" --json > runs/score-small-$s.json
done
for s in b6 hard6 u-soft u-hard; do
    $B score --run runs/$s --data "$D" --arch "${bulk[@]}" --json > runs/score-bulk-$s.json
done
