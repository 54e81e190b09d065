#!/bin/bash
# The latency-budget searches' derived networks (searches.sh), measured whole in ONNX Runtime
# (1 thread, batch 1, 20 warm-up and 200 timed calls, the median), with nothing else running:
# ROUNDS rounds (default 5), the three networks in a shuffled order in each; then each
# network's median over the rounds against its budget, by prediction and by measurement.
# usage: measure.sh BINARY OUTDIR [SUFFIX] -> one line per measurement, then one summary per network
set -eu
B=$1; OUT=$2; SUFFIX=${3:-}; ROUNDS=${ROUNDS:-5}
lines=$(mktemp)
for r in $(seq 1 $ROUNDS); do
  for spec in $(printf "25:0.1051\n50:0.1577\n75:0.2104\n" | shuf --random-source=<(yes $r)); do
    pct=${spec%%:*}; ms=${spec#*:}
    a=$OUT/lat-$pct$SUFFIX/arch.json
    m=$($B latency measure --arch $a --json)
    python3 -c "
import json,sys
a=json.load(open(sys.argv[1])); m=json.loads(sys.argv[2]); budget=float(sys.argv[3])
p=a['provenance']['latency']['predicted_ms']; f=a['provenance']['exact_flops']/1e6
print(json.dumps({'round': int(sys.argv[5]), 'budget_pct': int(sys.argv[4]), 'budget_ms': budget, 'predicted_ms': p, 'measured_ms': m['measured_ms'], 'mflops': f, 'load_average': m['load_average']}))" $a "$m" $ms $pct $r | tee -a $lines
  done
done
python3 - $lines <<'PY'
import json, sys, statistics
rows = [json.loads(l) for l in open(sys.argv[1])]
for pct in (25, 50, 75):
    r = [x for x in rows if x["budget_pct"] == pct]
    m = statistics.median(x["measured_ms"] for x in r)
    b, p = r[0]["budget_ms"], r[0]["predicted_ms"]
    print(json.dumps({"summary": pct, "budget_ms": b, "mflops": r[0]["mflops"],
        "predicted_ms": p, "predicted_off": p / b - 1, "measured_median_ms": m,
        "measured_off": m / b - 1, "measured_range_ms": [min(x["measured_ms"] for x in r), max(x["measured_ms"] for x in r)],
        "prediction_error": p / m - 1}))
PY
