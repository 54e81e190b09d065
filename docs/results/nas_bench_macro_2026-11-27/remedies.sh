#!/bin/bash
# Ranking fidelity per weight-training remedy on NAS-Bench-Macro's space: weights only
# (all epochs warm-up), superkernel sharing, 20,000 CIFAR-10 training images (16,000 train
# the weights), 3 epochs, batch 64, seed 0; then `fidelity` on 100 benchmark networks.
set -u
B=/work/main/target/release/dmasking
BENCH=/work/main/data/nas-bench-macro/nas-bench-macro_cifar10.json
cd /tmp/exp
for spec in "single-path:--weight-step single-path" \
            "full-width:--weight-step single-path --full-width-warmup 0.25" \
            "masked:--weight-step masked" \
            "sandwich:--weight-step sandwich"; do
  name=${spec%%:*}; flags=${spec#*:}
  echo "== $name ($flags) $(date +%T)"
  /usr/bin/time -f "%e s" $B search --space /work/main/configs/nas_bench_macro.json --data /tmp/cifar \
     --out /tmp/exp/r-$name --force --epochs 3 --warmup-epochs 3 --max-images 20000 \
     --op-sharing superkernel $flags --seed 0 --batch-size 64 2>&1 | tail -2
  /usr/bin/time -f "%e s" $B fidelity --run /tmp/exp/r-$name --benchmark $BENCH --data /tmp/cifar \
     --networks 100 --out /tmp/exp/fid-$name.json 2>/tmp/exp/fid-$name.log | tail -4
  tail -1 /tmp/exp/fid-$name.log
done
echo "== done $(date +%T)"
