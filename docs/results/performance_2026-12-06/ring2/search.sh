# The 5-epoch search with 495c84c's settings pinned (/tmp/old_search.json = the `search`
# section of docs/results/full_search_2026-11-28/config.json), new binary then old, back to
# back, nothing else running. dm_head: release build of dcc1d33 (the row ring at stride 2
# too); dm_ring: of b7107d7 (the row ring at stride 1).
set -u
cd /work/main
O=docs/results/performance_2026-12-06/ring2
for b in head ring; do
  uptime > $O/search_$b.uptime
  /usr/bin/time -v -o $O/search_$b.time-v.txt /tmp/dm_$b search --space configs/cifar10.json \
      --data /tmp/cifar --out /tmp/full2_$b --epochs 5 --op-sharing superkernel \
      --arch-every 4 --config /tmp/old_search.json > $O/search_$b.stdout.txt 2>&1
  echo "rc $?" >> $O/search_$b.uptime
  uptime >> $O/search_$b.uptime
done
