#!/bin/bash
# The default space end to end (issue 26): at a FLOP budget of configs/cifar10.json, the
# recommended search (docs/CLI.md "From search to a trained model": 5 epochs of all
# 50,000 training images, superkernel, one architecture step per 4 weight steps, budget
# loss, docs/experiments/annealed.json, the default selection of 16), seed 0; 3 random
# networks within ±5 % (`random --seed 0`); the two scaled baselines (`scale --by width`,
# `--by resolution`); then each network trained with the README's recipe (`train`
# defaults: SGD Nesterov, cosine, 10 % of the training images held out for validation, so
# 45,000 trained on; MAX_IMAGES=N: a seeded subset of N, 10 % of it held out) for EPOCHS
# epochs, training seed TSEED, and tested on all 10,000 test images.
# usage: [MAX_IMAGES=N] run.sh BINARY DATA OUTDIR MFLOPS EPOCHS TSEED [NETWORKS...]
#   NETWORKS: any of search random0 random1 random2 width resolution (default: all)
set -u
B=$1; DATA=$2; OUT=$3; MF=$4; EPOCHS=$5; TSEED=$6; shift 6
NETS=${*:-search random0 random1 random2 width resolution}
REPO=/work/main
SPACE=${SPACE:-$REPO/configs/cifar10.json}
mkdir -p $OUT
arch_of() {
  case $1 in
    search) echo $OUT/search/arch.json;;
    random*) echo $OUT/random/random_${1#random}.json;;
    width|resolution) echo $OUT/scaled-$1.json;;
  esac
}
for n in $NETS; do
  A=$(arch_of $n)
  if [ ! -f $A ]; then
    case $n in
      search)
        echo "== search at $MF MFLOPs $(date +%T)"
        /usr/bin/time -f "%e s wall" $B search --space $SPACE --data $DATA --out $OUT/search \
           --epochs 5 --op-sharing superkernel --arch-every 4 --loss budget --budget-mflops $MF \
           --config $REPO/docs/experiments/annealed.json --seed 0 2>&1 | tail -4;;
      random*) $B random --space $SPACE --count 3 --match-mflops $MF --seed 0 --out $OUT/random;;
      width|resolution) $B scale --space $SPACE --match-mflops $MF --by $n --out $A;;
    esac
  fi
  R=$OUT/t-$n-seed$TSEED
  echo "== train $n ($A) $EPOCHS epochs, seed $TSEED $(date +%T)"
  if [ -f $R/summary.json ]; then echo "done before"; continue; fi
  if [ -d $R ]; then RES="--resume"; else RES=""; fi
  /usr/bin/time -f "%e s wall" $B train --arch $A --data $DATA --out $R --epochs $EPOCHS \
     --seed $TSEED ${MAX_IMAGES:+--max-images $MAX_IMAGES} $RES 2>&1 | tail -3
done
echo "== done $(date +%T)"
