# What ran (2026-12-06, 07:26-07:42 UTC, 2-core development machine, nothing else running):
# the 5-epoch search with 495c84c's settings pinned (/tmp/old_search.json = the `search`
# section of docs/results/full_search_2026-11-28/config.json), one run, a release build of
# 83e373d (add_scaled and the SE plane ops in) as /tmp/dm_now; no old binary beside it.
set -u
cd /work/main
O=docs/results/performance_2026-12-06/full_search_later
uptime > $O/uptime.log
/usr/bin/time -v -o $O/time-v.txt /tmp/dm_now search --space configs/cifar10.json \
    --data /tmp/cifar --out /tmp/full_now --epochs 5 --op-sharing superkernel \
    --arch-every 4 --config /tmp/old_search.json > $O/stdout.txt
echo "rc $?" >> $O/uptime.log
uptime >> $O/uptime.log
