#!/bin/bash
# Issue 23, item 0: the latency spread at equal FLOPs. COUNT (12) random networks of
# configs/cifar10.json within ±5 % of MFLOPS (6) (`dmasking random`, seed 0), exported
# with random weights (`dmasking export`), timed in ONNX Runtime (ort_time.py: 1 thread,
# batch 1, median over 3 shuffled rounds of the median of 200 runs after 20 warm-up).
# Run on an otherwise idle machine.
# usage: spread.sh BINARY OUT_DIR [COUNT (12)] [MFLOPS (6)]
set -eu
B=$1; O=$2; N=${3:-12}; M=${4:-6}; D=$(cd "$(dirname "$0")" && pwd); R=$(cd "$D/../../.." && pwd)
mkdir -p $O
$B random --space $R/configs/cifar10.json --match-mflops $M --count $N --seed 0 --out $O > $O/random.log 2>&1
for a in $O/random_*.json; do
  $B export --arch $a --out ${a%.json}.onnx 2>> $O/export.log
  $B flops --arch $a --json > ${a%.json}.flops.json
done
python3 $D/ort_time.py $O/random_*.onnx > $O/latency.json
python3 - $O <<'PY'
import json, sys, glob, os
o = sys.argv[1]
lat = json.load(open(f"{o}/latency.json"))
rows = []
for f in sorted(glob.glob(f"{o}/random_*.flops.json")):
    name = os.path.basename(f).replace(".flops.json", "")
    fl = json.load(open(f))["flops"]
    rows.append((name, fl / 1e6, lat["results"][name + ".onnx"]["median_ms"]))
ms = [r[2] for r in rows]
for r in rows:
    print(f"{r[0]:>10}  {r[1]:6.3f} MFLOPs  {r[2]:.4f} ms")
def tau(a, b):
    s = n = 0
    for i in range(len(a)):
        for j in range(i + 1, len(a)):
            x = (a[i] - a[j]) * (b[i] - b[j])
            s += (x > 0) - (x < 0); n += 1
    return s / n
print(f"Kendall tau of FLOPs against latency: {tau([r[1] for r in rows], ms):+.2f} over {len(rows)} networks")
print(f"median latency {min(ms):.3f} - {max(ms):.3f} ms: {max(ms) / min(ms):.2f}x at "
      f"{min(r[1] for r in rows):.2f}-{max(r[1] for r in rows):.2f} MFLOPs "
      f"(ONNX Runtime {lat['onnxruntime']}, load average {lat['loadavg_before'][0]:.2f} before, {lat['loadavg_after'][0]:.2f} after)")
PY
