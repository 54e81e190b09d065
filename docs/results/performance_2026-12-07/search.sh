# The 5-epoch search, 55bfe85 (dm_blocks) then 495c84c (dm_495, the baseline),
# back to back, nothing else running. The README's command; the newer binary gets
# 495c84c's search settings pinned by --config (/tmp/old_search.json: the `search`
# section of docs/results/full_search_2026-11-28/config.json), 495c84c runs with its own
# defaults, which are those settings.
set -u
cd /work/main
O=docs/results/performance_2026-12-07
for b in blocks 495; do
  cfg=(); [ $b != 495 ] && cfg=(--config /tmp/old_search.json)
  rm -rf /tmp/full_$b
  uptime > $O/search_$b.uptime
  /usr/bin/time -v -o $O/search_$b.time-v.txt /tmp/dm_$b search --space configs/cifar10.json \
      --data /tmp/cifar --out /tmp/full_$b --epochs 5 --op-sharing superkernel \
      --arch-every 4 "${cfg[@]}" > $O/search_$b.stdout.txt 2>&1
  echo "rc $?" >> $O/search_$b.uptime
  uptime >> $O/search_$b.uptime
done
