#!/bin/bash
# NAS-Bench-Macro searched under a latency limit (issue 23, item 4): the protocol of
# docs/results/nas_bench_macro_2026-11-27/searches.sh (3 epochs, 1 weights only, a seeded
# 20,000-image CIFAR-10 subset, batch 64, superkernel, one architecture step per 4 weight
# steps, budget loss, temperature 5 -> 0.5, arch lr 0.05, the default selection of 16) with
# latency as the cost: latency predicted from the calibrated table of
# docs/results/latency_prediction_2026-12-03, budgets at 25, 50 and 75 % of the benchmark's
# measured latency range (0.0757-0.9545 ms in data/nas-bench-macro/latency_*.json:
# 0.2954, 0.5151, 0.7348 ms). Each derived network is looked up with its measured latency.
# usage: searches.sh BINARY DATA OUTDIR SEED
set -u
B=$1; DATA=$2; OUT=$3; SEED=$4
REPO=/work/main
BENCH=$REPO/data/nas-bench-macro/nas-bench-macro_cifar10.json
LAT=$REPO/data/nas-bench-macro/latency_onnxruntime-1.32.0_2core.json
T=$REPO/docs/results/latency_prediction_2026-12-03/table-nas_bench_macro.json
mkdir -p $OUT
echo '{"temperature_start": 5.0, "temperature_end": 0.5, "arch_lr": 0.05}' > $OUT/search-settings.json
for spec in 25:0.2954 50:0.5151 75:0.7348; do
  pct=${spec%%:*}; ms=${spec#*:}
  R=$OUT/lat-$pct-seed$SEED
  echo "== $pct % of the measured range: --budget-ms $ms, seed $SEED $(date +%T)"
  /usr/bin/time -f "%e s wall" $B search --space $REPO/configs/nas_bench_macro.json --data $DATA \
     --out $R --force --epochs 3 --warmup-epochs 1 --max-images 20000 --arch-every 4 \
     --op-sharing superkernel --loss budget --latency-table $T --budget-ms $ms --seed $SEED \
     --batch-size 64 --config $OUT/search-settings.json 2>&1 | tail -3
  $B lookup --benchmark $BENCH --arch $R/arch.json --latency $LAT --json > $R/lookup.json
  echo "derived: $(cat $R/lookup.json)"
done
echo "== done $(date +%T)"
