#!/bin/bash
# Each network of run.sh's OUTDIRs measured whole in ONNX Runtime (`latency measure`: 1
# thread, batch 1, 20 warm-up and 200 timed calls, the median), with nothing else running:
# ROUNDS rounds (default 5), every network of every OUTDIR in a shuffled order in each.
# usage: [ROUNDS=N] latency.sh BINARY OUTDIR... -> one JSON line per measurement on stdout
set -eu
B=$1; shift; ROUNDS=${ROUNDS:-5}
nets=""
for OUT in "$@"; do
  for a in $OUT/search/arch.json $OUT/random/random_0.json $OUT/random/random_1.json \
           $OUT/random/random_2.json $OUT/scaled-width.json $OUT/scaled-resolution.json; do
    [ -f $a ] && nets="$nets $a"
  done
done
for r in $(seq 1 $ROUNDS); do
  for a in $(printf "%s\n" $nets | shuf --random-source=<(yes $r)); do
    m=$($B latency measure --arch $a --json)
    echo "{\"round\": $r, \"arch\": \"$a\", \"measure\": $m}"
  done
done
