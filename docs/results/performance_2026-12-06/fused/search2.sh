# A second pair, in the other order: fc3c476 (dm_fc3c476, the same build as ab.txt's
# dm_fused2) then 495c84c, back to back, nothing else running; settings as in search.sh.
set -u
cd /work/main
O=docs/results/performance_2026-12-06/fused
for b in fc3c476 495; do
  cfg=(); [ $b != 495 ] && cfg=(--config /tmp/old_search.json)
  rm -rf /tmp/full_$b
  uptime > $O/search2_$b.uptime
  /usr/bin/time -v -o $O/search2_$b.time-v.txt /tmp/dm_$b search --space configs/cifar10.json \
      --data /tmp/cifar --out /tmp/full_$b --epochs 5 --op-sharing superkernel \
      --arch-every 4 "${cfg[@]}" > $O/search2_$b.stdout.txt 2>&1
  echo "rc $?" >> $O/search2_$b.uptime
  uptime >> $O/search2_$b.uptime
done
