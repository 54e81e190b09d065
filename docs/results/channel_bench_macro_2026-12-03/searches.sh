#!/bin/bash
# Budget searches of Channel-Bench-Macro's MobileNet width space
# (configs/channel_bench_macro_mobilenet.json), the protocol of docs/RESULTS.md's
# NAS-Bench-Macro searches: CIFAR-10 subset of 20,000 images (16,000 weights / 4,000
# architecture), 3 epochs (1 weights-only), batch 64, superkernel sharing, one
# architecture step per 4 weight steps, budget loss at 25/50/75 % of the space's FLOP
# range, temperature 5 -> 0.5, arch lr 0.05, the selection of 16 (the default).
# usage: searches.sh BINARY SEED [EXTRA FLAGS...]   (CIFAR-10 JPEGs unpacked to /tmp/cifar)
set -u
B=$1; SEED=$2; shift 2; FLAGS="$*"
SPACE=/work/main/configs/channel_bench_macro_mobilenet.json
mkdir -p /tmp/exp && cd /tmp/exp
echo '{"temperature_start": 5.0, "temperature_end": 0.5, "arch_lr": 0.05}' > /tmp/exp/cbm-settings.json
read MIN MAX < <($B flops --space $SPACE --json | python3 -c 'import json,sys; v=json.load(sys.stdin); print(v["min_flops"], v["max_flops"])')
for pct in 25 50 75; do
  T=$(python3 -c "print(round(($MIN + $pct / 100 * ($MAX - $MIN)) / 1e6, 2))")
  R=/tmp/exp/cbm-$pct-$SEED
  echo "== budget $pct % ($T MFLOPs) seed $SEED ($FLAGS) $(date +%T)"
  /usr/bin/time -f "%e s wall" $B search --space $SPACE --data /tmp/cifar --out $R --force \
     --epochs 3 --warmup-epochs 1 --max-images 20000 --arch-every 4 --op-sharing superkernel \
     --loss budget --budget-mflops $T --seed $SEED --batch-size 64 \
     --config /tmp/exp/cbm-settings.json $FLAGS 2>&1 | tail -3
done
echo "== done $(date +%T)"
