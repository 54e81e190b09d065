#!/bin/bash
# The sandwich remedy, as remedies.sh ran the others (weights only, 3 epochs, 20,000 images, seed 0).
set -u
B=/tmp/exp/dmasking-4fa9545
BENCH=/work/main/data/nas-bench-macro/nas-bench-macro_cifar10.json
cd /tmp/exp
name=sandwich; flags="--weight-step sandwich"
echo "== $name ($flags) $(date +%T)"
/usr/bin/time -f "%e s" $B search --space /work/main/configs/nas_bench_macro.json --data /tmp/cifar \
   --out /tmp/exp/r-$name --force --epochs 3 --warmup-epochs 3 --max-images 20000 \
   --op-sharing superkernel $flags --seed 0 --batch-size 64 2>&1 | tail -2
/usr/bin/time -f "%e s" $B fidelity --run /tmp/exp/r-$name --benchmark $BENCH --data /tmp/cifar \
   --networks 100 --out /tmp/exp/fid-$name.json 2>/tmp/exp/fid-$name.log | tail -4
tail -1 /tmp/exp/fid-$name.log
echo "== done $(date +%T)"
