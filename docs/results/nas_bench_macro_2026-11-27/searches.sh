#!/bin/bash
# Searches of NAS-Bench-Macro's space judged by the benchmark: budget loss at 25/50/75 % of
# the space's FLOP range (ours: 32.22 / 56.71 / 81.19 MFLOPs), CIFAR-10 subset of 20,000
# images (16,000 weights / 4,000 architecture), 3 epochs (1 weights-only), batch 64,
# superkernel, one architecture step per 4 weight steps, annealed temperature 5 -> 0.5,
# arch lr 0.05. Then: lookup of the derived network; one-shot random search (the
# supernet's best of 20 FLOP-matched random networks, scored like `fidelity`); the 20
# random networks' mean percentile (a random network).
# usage: searches.sh SEED WEIGHT_FLAGS...
set -u
SEED=$1; shift; FLAGS="$*"
B=${DMASKING:-/work/main/target/release/dmasking}   # the binary: DMASKING=PATH to use another
BENCH=/work/main/data/nas-bench-macro/nas-bench-macro_cifar10.json
cd /tmp/exp
# Single-path weights: straight-through hard samples in the architecture step too, so it
# scores the same one-hot networks the weights were trained as.
case "$FLAGS" in
  *single-path*) echo '{"temperature_start": 5.0, "temperature_end": 0.5, "arch_lr": 0.05, "hard": true}' > /tmp/exp/search-settings.json;;
  *) echo '{"temperature_start": 5.0, "temperature_end": 0.5, "arch_lr": 0.05}' > /tmp/exp/search-settings.json;;
esac
for pct in 25 50 75; do
  case $pct in 25) T=32.22;; 50) T=56.71;; 75) T=81.19;; esac
  R=/tmp/exp/s-$pct-$SEED
  echo "== budget $pct % ($T MFLOPs) seed $SEED ($FLAGS) $(date +%T)"
  $B search --space /work/main/configs/nas_bench_macro.json --data /tmp/cifar --out $R --force \
     --epochs 3 --warmup-epochs 1 --max-images 20000 --arch-every 4 --op-sharing superkernel \
     --loss budget --budget-mflops $T --seed $SEED --batch-size 64 \
     --config /tmp/exp/search-settings.json $FLAGS 2>&1 | tail -2
  $B lookup --benchmark $BENCH --arch $R/arch.json --json > $R/lookup.json
  echo "derived: $(cat $R/lookup.json)"
  $B random --space /work/main/configs/nas_bench_macro.json --count 20 --match-mflops $T \
     --seed $SEED --out $R/random > /dev/null
  $B score --run $R --arch $R/random/random_*.json --data /tmp/cifar --calibration-images 512 \
     --max-test-images 1000 --batch-size 128 --json > $R/random-scores.json
  for f in $R/random/random_*.json; do
    echo "$(basename $f) $($B lookup --benchmark $BENCH --arch $f --json)"
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
pct = [v["percentile"] for v in look.values()]
acc = [v["mean_acc"] for v in look.values()]
out = {"oneshot_best": {"arch": best["arch"], "top1": best["top1"], **b},
       "random_mean_percentile": sum(pct) / len(pct), "random_mean_acc": sum(acc) / len(acc),
       "random_n": len(pct)}
json.dump(out, open(f"{r}/baselines.json", "w"))
print("baselines:", json.dumps(out))
PY
done
echo "== done $(date +%T)"
