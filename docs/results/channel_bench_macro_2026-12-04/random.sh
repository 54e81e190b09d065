#!/bin/bash
# The baselines beside a Channel-Bench-Macro search (issue 22, item 4), as docs/RESULTS.md's
# NAS-Bench-Macro table has them: 20 FLOP-matched random networks of the width space (seeded
# by the search's seed), each looked up in the benchmark (its percentile in its ±5 % band:
# the random mean), and, where the run's supernet is given, each scored one-shot with it as
# NAS-Bench-Macro's baseline was (BN on 512 training images, top-1 on 1,000 test images):
# the best of the 20 by that score is one-shot random search.
# usage: random.sh BINARY RESULTS_MOBILENET_JSON OUT_DIR TARGET_MFLOPS SEED [RUN_DIR]
set -eu
B=$1; BENCH=$2; OUT=$3; T=$4; SEED=$5; RUN=${6:-}
SPACE=/work/main/configs/channel_bench_macro_mobilenet.json
mkdir -p $OUT
$B random --space $SPACE --count 20 --match-mflops $T --seed $SEED --out $OUT/random > /dev/null
ARCHS=$(for i in $(seq 0 19); do echo $OUT/random/random_$i.json; done)
for f in $ARCHS; do $B lookup --benchmark $BENCH --arch $f --json; echo; done > $OUT/random/lookup.jsonl
if [ -n "$RUN" ]; then
  $B score --run $RUN --arch $ARCHS --data /tmp/cifar --calibration-images 512 \
     --max-test-images 1000 --batch-size 128 --json > $OUT/random/score.json
fi
python3 /work/main/docs/results/channel_bench_macro_2026-12-04/random.py $OUT/random
