#!/bin/bash
# Ranking fidelity on Channel-Bench-Macro's width space, of the supernet the 50 % budget
# search (seed 0, searches.sh) ended with: `dmasking fidelity` on 100 benchmark networks
# (50 at evenly spaced FLOP ranks, 50 in the ±5 % band around the middle of the range),
# BN re-estimated on 512 training images, top-1 on 1,000 test images.
# usage: fidelity.sh BINARY RESULTS_MOBILENET_JSON
set -u
B=$1; BENCH=$2
cd /tmp/exp
/usr/bin/time -f "%e s wall" $B fidelity --run /tmp/exp/cbm-50-0 --benchmark $BENCH --data /tmp/cifar \
   --networks 100 --out /tmp/exp/cbm-fidelity-50-0.json 2>/tmp/exp/cbm-fidelity-50-0.log | tail -4
tail -1 /tmp/exp/cbm-fidelity-50-0.log
