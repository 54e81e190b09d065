#!/bin/bash
# The selection repeated on each seed-0 run's final checkpoint with more scoring images:
# `derive --select 16` (the same 16 candidates as select.sh: same seed and draws) scored
# on VAL architecture-split images with BN re-estimated on CAL weight-split images,
# recording each candidate's one-shot top-1 and loss; candidates.py then gives tau of
# each score against the true accuracy and the candidate each would choose.
# usage: select_scores.sh BINARY RESULTS_MOBILENET_JSON VAL CAL
set -u
B=$1; BENCH=$2; VAL=$3; CAL=$4; D=$(cd "$(dirname "$0")" && pwd)
for pct in 25 50 75; do
  R=/tmp/exp/cbm-$pct-0; O=/tmp/exp/cbm-$pct-0-sel-$VAL-$CAL
  mkdir -p $O
  /usr/bin/time -f "%e s wall" $B derive --run $R --select 16 --data /tmp/cifar \
     --select-images $VAL --select-calibration-images $CAL --out $O/arch.json 2>&1 | tail -2
done
python3 $D/candidates.py $BENCH /tmp/exp/cbm-{25,50,75}-0-sel-$VAL-$CAL
