#!/bin/bash
# Issue 26, item 1: one epoch of each kind of network, timed, to size the protocol.
# Each network of run.sh's OUTDIR trained for one epoch on a seeded 5,000-image subset
# (4,500 trained, 500 validation) and tested on 1,000 test images; other jobs stopped.
# usage: time_epoch.sh BINARY DATA OUTDIR
set -u
B=$1; DATA=$2; OUT=$3
for A in $OUT/search/arch.json $OUT/random/random_0.json $OUT/random/random_1.json \
         $OUT/random/random_2.json $OUT/scaled-width.json $OUT/scaled-resolution.json; do
  R=$(mktemp -d)
  $B train --arch $A --data $DATA --out $R/t --force --epochs 1 --max-images 5000 \
     --max-test-images 1000 > $R/log 2>&1
  python3 - $A $R/t <<'PY'
import json, sys
arch, run = sys.argv[1], sys.argv[2]
ep = [json.loads(l) for l in open(f"{run}/metrics.jsonl") if '"epoch"' in l][-1]
a = json.load(open(arch))
print(json.dumps({"arch": arch.split("/")[-2] + "/" + arch.split("/")[-1], "input": a.get("input_size"),
                  "epoch_seconds_5000": round(ep["seconds"], 2)}))
PY
  rm -rf $R
done
