#!/bin/bash
# Width remedies at equal wall-clock supernet training (issue 22, item 2): on Channel-Bench-
# Macro's MobileNet width space, weights only (every epoch a warm-up epoch, architecture held
# uniform), batch 64, seed 0; each remedy gets about 20 minutes of weight steps, from the
# median step times `dmasking bench` measured alone on this machine (bench-step-times.jsonl:
# masked 406 ms, single-path 222 ms, sandwich-distill 725 ms a step), so that builds beside
# a run lengthen it but do not change what it trains. Then `dmasking fidelity` on 100
# benchmark networks (50 at evenly spaced FLOP ranks, 50 in the ±5 % band around the middle).
# (*) bilateral (2026-12-04, commit 0f8dfb3): measured beside single-path, alone, 534 and 253 ms
# (bench-step-times-2026-12-04.txt): 2.11 × single-path's 222 ms = 468 ms.
# steps = epochs × floor(0.8 × max_images / 64); 0.8: the weight split.
# usage: remedies.sh BINARY RESULTS_MOBILENET_JSON OUTDIR [NAME...]
set -u
B=$1; BENCH=$2; OUT=$3; shift 3
cd /work/main
spec() {
  case $1 in
    masked)           echo "5 47500 --weight-step masked" ;;            # 5 × 593 = 2965 steps × 406 ms = 1204 s
    single-path)      echo "9 48100 --weight-step single-path" ;;       # 9 × 601 = 5409 steps × 222 ms = 1201 s
    sandwich-distill) echo "3 44150 --weight-step sandwich-distill" ;;  # 3 × 551 = 1653 steps × 725 ms = 1198 s
    bilateral)        echo "5 41040 --weight-step bilateral" ;;         # 5 × 513 = 2565 steps × 468 ms = 1200 s (*)
    masked-long)      echo "10 47500 --weight-step masked" ;;           # twice masked: 2410 s
  esac
}
for name in "$@"; do
  set -- $(spec $name); epochs=$1; images=$2; shift 2; flags="$*"
  echo "== $name: --epochs $epochs --max-images $images $flags $(date +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
  /usr/bin/time -f "%e s search wall" $B search --space configs/channel_bench_macro_mobilenet.json \
     --data /tmp/cifar --out $OUT/r-$name --force --epochs $epochs --warmup-epochs $epochs \
     --max-images $images --op-sharing superkernel $flags --seed 0 --batch-size 64 2>&1 | tail -2
  /usr/bin/time -f "%e s fidelity wall" $B fidelity --run $OUT/r-$name --benchmark $BENCH \
     --data /tmp/cifar --networks 100 --out $OUT/fid-$name.json 2>$OUT/fid-$name.log | tail -6
  tail -1 $OUT/fid-$name.log
done
echo "== done $(date +%T)"
