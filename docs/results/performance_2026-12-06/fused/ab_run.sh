# head (16bb926) and fused2 (a release build of fc3c476's source: the BN output read by the depthwise and pointwise
# convolutions) alternating, 4 rounds each, batch 64, 8 timed steps, 2 threads, nothing
# else running. The last word of each line is the op sharing.
cd /work/main
O=docs/results/performance_2026-12-06/fused
uptime > $O/ab.uptime
for sp in cifar10 nas_bench_macro; do for k in weight arch; do for s in superkernel branches; do
  bash $O/ab.sh $sp $k 4 /tmp/dm_head /tmp/dm_fused2 --op-sharing $s | sed "s/\$/ $s/"
done; done; done > $O/ab.txt
uptime >> $O/ab.uptime
# Run after it, by hand (the same binaries):
#   for s in superkernel branches; do bash $O/ab.sh cifar10 weight 8 /tmp/dm_head \
#       /tmp/dm_fused2 --op-sharing $s | sed "s/\$/ $s/"; done > $O/ab2.txt
#   peak.txt: for each op sharing and binary, `dmasking bench --space configs/cifar10.json
#       --batch-size 64 --steps 3 --op-sharing S --json`, its weight and arch peak_mib.
#   summary.txt: python3 summary.py; summary2.txt: python3 summary.py ab2.txt.
#   machine.txt: lscpu (model, CPUs, flags), nproc, free -g, taken after the runs.
