#!/bin/bash
# Baselines in the latency bands of searches.sh's runs: 20 random networks of
# configs/nas_bench_macro.json within ±5 % of the budget's predicted latency (`random
# --latency-table`, the search's seed), each looked up in its own measured latency band;
# one-shot random search: the search's supernet scores the 20 (`score`, as `fidelity` does:
# 512 calibration images, 1,000 test images) and its best is looked up.
# usage: baselines.sh BINARY DATA OUTDIR SEED
set -u
B=$1; DATA=$2; OUT=$3; SEED=$4
REPO=/work/main
BENCH=$REPO/data/nas-bench-macro/nas-bench-macro_cifar10.json
LAT=$REPO/data/nas-bench-macro/latency_onnxruntime-1.32.0_2core.json
T=$REPO/docs/results/latency_prediction_2026-12-03/table-nas_bench_macro.json
for spec in 25:0.2954 50:0.5151 75:0.7348; do
  pct=${spec%%:*}; ms=${spec#*:}
  R=$OUT/lat-$pct-seed$SEED
  echo "== baselines $pct % (--match-ms $ms), seed $SEED $(date +%T)"
  $B random --space $REPO/configs/nas_bench_macro.json --latency-table $T --match-ms $ms \
     --count 20 --seed $SEED --out $R/random > /dev/null
  $B score --run $R --arch $R/random/random_*.json --data $DATA --calibration-images 512 \
     --max-test-images 1000 --batch-size 128 --json > $R/random-scores.json
  for f in $R/random/random_*.json; do
    echo "$(basename $f) $($B lookup --benchmark $BENCH --arch $f --latency $LAT --json)"
  done > $R/random-lookups.txt
  python3 - $R <<'PY'
import json, sys
r = sys.argv[1]
scores = json.load(open(f"{r}/random-scores.json"))
look = {}
for line in open(f"{r}/random-lookups.txt"):
    name, js = line.split(" ", 1)
    look[name] = json.loads(js)
best = max(scores, key=lambda s: s["top1"])
b = look[best["arch"].split("/")[-1]]
lat = [v["latency"]["percentile"] for v in look.values()]
out = {"oneshot_best": {"arch": best["arch"].split("/")[-1], "top1": best["top1"], **b},
       "random_mean_latency_percentile": sum(lat) / len(lat),
       "random_mean_acc": sum(v["mean_acc"] for v in look.values()) / len(look),
       "random_n": len(lat)}
json.dump(out, open(f"{r}/baselines.json", "w"))
print("baselines:", json.dumps(out))
PY
done
echo "== done $(date +%T)"
