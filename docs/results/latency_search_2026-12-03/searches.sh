#!/bin/bash
# Latency-budget searches on configs/cifar10.json (issue 23, item 4): the README's short
# search (5 epochs, 1 of them weights only, a seeded 4,000-image subset, the default
# selection), the budget loss on latency predicted from the calibrated table of
# docs/results/latency_prediction_2026-12-03, budgets at 25, 50 and 75 % of the space's
# predicted range (0.0524–0.2631 ms), seed 0.
# usage: searches.sh BINARY DATA OUTDIR [SUFFIX EXTRA_FLAGS...]
#   e.g. searches.sh B D O -t2 --config tight.json   (tight.json: {"budget_tolerance": 0.02})
set -u
B=$1; DATA=$2; OUT=$3; SUFFIX=${4:-}; shift 3; [ $# -gt 0 ] && shift; EXTRA="$*"
T=/work/main/docs/results/latency_prediction_2026-12-03/table-cifar10.json
mkdir -p $OUT
for spec in 25:0.1051 50:0.1577 75:0.2104; do
  pct=${spec%%:*}; ms=${spec#*:}
  echo "== $pct % of the range: --budget-ms $ms $(date +%T)"
  /usr/bin/time -f "%e s wall" $B search --space /work/main/configs/cifar10.json --data $DATA \
     --out $OUT/lat-$pct$SUFFIX --force $EXTRA --epochs 5 --warmup-epochs 1 --max-images 4000 \
     --loss budget --latency-table $T --budget-ms $ms --seed 0 2>&1 | tail -4
done
