# The old binary's 5-epoch search again with seed 1 (/tmp/old_search_seed1.json = the
# `search` section of docs/results/full_search_2026-11-28/config.json with "seed": 1), for
# the spread of two seeds of the old binary's per-epoch weight loss. Its time is not a
# measurement: builds ran beside it.
set -u
cd /work/main
O=docs/results/performance_2026-12-06/ring
/tmp/dm_base search --space configs/cifar10.json --data /tmp/cifar --out /tmp/full_seed1 \
    --epochs 5 --op-sharing superkernel --arch-every 4 --config /tmp/old_search_seed1.json \
    > $O/search_base_seed1.stdout.txt 2>&1
echo "rc $?" >> $O/search_base_seed1.stdout.txt
