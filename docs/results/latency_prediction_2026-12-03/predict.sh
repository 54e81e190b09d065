#!/bin/bash
# Latency prediction against measurement (issue 23, item 2): a table of a space's pieces
# (or, with ARCHS=1, of only the pieces the drawn networks run), COUNT random networks of the
# space drawn with SEED (uniform draws within ±95 % of the middle of the FLOP range: nearly
# every network), each predicted from the table and measured whole in ONNX Runtime (1
# thread, batch 1, 20 warm-up and 200 timed calls, the median). Run with nothing else on the
# machine; the load average is recorded in the table and in each line.
# usage: predict.sh BINARY OUTDIR SPACE COUNT SEED [TABLE]   (TABLE: reuse a table)
set -eu
B=$1; OUT=$2; SPACE=$3; COUNT=$4; SEED=$5; TABLE=${6:-}
name=$(basename $SPACE .json)
mkdir -p $OUT
range=$($B flops --space $SPACE --json)
mid=$(python3 -c "import json,sys; v=json.loads(sys.argv[1]); print((v['min_flops']+v['max_flops'])/2e6)" "$range")
nets=$OUT/nets-$name-$SEED
rm -rf $nets
$B random --space $SPACE --count $COUNT --match-mflops $mid --tolerance 0.95 --seed $SEED --out $nets > /dev/null
if [ -z "$TABLE" ]; then
  TABLE=$OUT/table-$name.json
  if [ "${ARCHS:-0}" = 1 ]; then
    $B latency table --arch $nets/*.json --out $TABLE 2>&1 | tail -1
  else
    $B latency table --space $SPACE --out $TABLE 2>&1 | tail -1
  fi
fi
lines=$OUT/measured-$name-$SEED.jsonl
: > $lines
for f in $(ls $nets/*.json | shuf --random-source=<(yes $SEED)); do
  fl=$($B flops --arch $f --json)
  p=$($B latency predict --arch $f --table $TABLE --json)
  m=$($B latency measure --arch $f --json)
  python3 -c "
import json,sys
fl,p,m=(json.loads(a) for a in sys.argv[2:5])
print(json.dumps({'arch': sys.argv[1], 'mflops': fl['flops']/1e6, 'predicted_ms': p['predicted_ms'], 'measured_ms': m['measured_ms'], 'load_average': m['load_average']}))" "$f" "$fl" "$p" "$m" >> $lines
done
python3 $(dirname $0)/accuracy.py $lines
