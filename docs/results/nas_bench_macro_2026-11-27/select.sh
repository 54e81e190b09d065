#!/bin/bash
set -u
B=/tmp/exp/dmasking-sel
BENCH=/work/main/data/nas-bench-macro/nas-bench-macro_cifar10.json
cd /tmp/exp
for R in "$@"; do
  echo "== $R $(date +%T)"
  $B derive --run $R --select 16 --data /tmp/cifar --out $R/arch-select16.json
  $B lookup --benchmark $BENCH --arch $R/arch-select16.json --json > $R/lookup-select16.json
  echo "selected: $(cat $R/lookup-select16.json)"
done
echo "== done $(date +%T)"
