#!/bin/bash
# Judge one seed's three Channel-Bench-Macro searches (searches.sh BINARY SEED, run dirs
# /tmp/exp/cbm-{25,50,75}-SEED): the selection's candidates (candidates.py: percentiles, tau),
# the selection's margin over its runner-up against the paired standard error, and the
# baselines (random.sh: the random mean and, with the run's supernet, one-shot random
# search, best of 20). Copies each run's small files to search-PCT-seedSEED/.
# usage: judge.sh BINARY RESULTS_MOBILENET_JSON SEED
set -eu
B=$1; BENCH=$2; SEED=$3
HERE=/work/main/docs/results/channel_bench_macro_2026-12-04
OLD=/work/main/docs/results/channel_bench_macro_2026-12-03
for pt in "25 63.56" "50 112.82" "75 162.09"; do
  set -- $pt; PCT=$1; T=$2; R=/tmp/exp/cbm-$PCT-$SEED
  python3 $OLD/candidates.py $BENCH $R
  python3 - $R/selection.json <<'PY'
import json, sys
s = json.load(open(sys.argv[1])); c = s["candidates"]; k = s["chosen"]
r = max((i for i in range(len(c)) if i != k), key=lambda i: c[i]["top1"])
print(f"  chosen top-1 {c[k]['top1']:.4f} (s.e. {c[k]['top1_se']:.4f}); runner-up {c[r]['top1']:.4f}: "
      f"margin {c[k]['top1'] - c[r]['top1']:+.4f}, paired s.e. {c[r]['paired_se_to_chosen']:.4f}; "
      f"median paired s.e. over the candidates "
      f"{sorted(x['paired_se_to_chosen'] for i, x in enumerate(c) if i != k)[(len(c) - 1) // 2]:.4f}")
PY
  echo -n "  baselines: "; bash $HERE/random.sh $B $BENCH $R/baselines $T $SEED $R | tee $HERE/random-$PCT-seed$SEED.json
  mkdir -p $HERE/search-$PCT-seed$SEED
  cp $R/config.json $R/metrics.jsonl $R/arch.json $R/selection.json $R/candidates.json $HERE/search-$PCT-seed$SEED/
done
