#!/bin/bash
# The selection that ends a search, applied again to each seed-0 run's final checkpoint
# with `dmasking derive --select 16` (it rewrites RUN/selection.json: the search's own
# are kept in search-*-seed0/) from a build with the network_key fix (f04c32a:
# candidates that differ only in the head's width are distinct networks), then the
# candidates judged by candidates.py.
# usage: select.sh BINARY RESULTS_MOBILENET_JSON
set -u
B=$1; BENCH=$2; D=$(cd "$(dirname "$0")" && pwd)
for pct in 25 50 75; do
  R=/tmp/exp/cbm-$pct-0
  $B derive --run $R --select 16 --data /tmp/cifar --out $R/arch-select16.json 2>&1 | tail -1
  mkdir -p /tmp/exp/cbm-$pct-0-select16
  cp $R/selection.json /tmp/exp/cbm-$pct-0-select16/selection.json  # derive --select writes RUN/selection.json
done
python3 $D/candidates.py $BENCH /tmp/exp/cbm-{25,50,75}-0-select16
