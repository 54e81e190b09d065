# The README's 5-epoch search: 495c84c (the baseline, 11 min 21.56 s on
# 2026-11-28), 16bb926 and the fused binary back to back, nothing else running.
# dm_495: release build of 495c84c, run with its defaults (they are the pinned settings);
# dm_head: release build of 16bb926, the same settings pinned by --config
# (/tmp/old_search.json = the `search` section of
# docs/results/full_search_2026-11-28/config.json). dm_fused: release build of the
# working tree with the BN output read by the depthwise convolution only (the depthwise
# half of fc3c476; never committed alone).
set -u
cd /work/main
O=docs/results/performance_2026-12-06/fused
for b in 495 head fused; do
  cfg=(); [ $b != 495 ] && cfg=(--config /tmp/old_search.json)
  rm -rf /tmp/full_$b
  uptime > $O/search_$b.uptime
  /usr/bin/time -v -o $O/search_$b.time-v.txt /tmp/dm_$b search --space configs/cifar10.json \
      --data /tmp/cifar --out /tmp/full_$b --epochs 5 --op-sharing superkernel \
      --arch-every 4 "${cfg[@]}" > $O/search_$b.stdout.txt 2>&1
  echo "rc $?" >> $O/search_$b.uptime
  uptime >> $O/search_$b.uptime
done
