# What ran on 2026-12-06 (2-core development machine, nothing else running), in order.
# dm_dcc0eb8: release build of dcc0eb8 (before); dm_f0a53bf: of f0a53bf (add_scaled).
set -u
cd /work/main
O=docs/results/performance_2026-12-06
A=docs/results/performance_2026-12-05/ab.sh      # bench --only, batch 64, 8 steps, 2 threads
# 1. old and new alternating, three rounds per step (ab.txt)
for sp in cifar10 nas_bench_macro; do for k in weight arch; do
  bash $A $sp $k 3 /tmp/dm_dcc0eb8 /tmp/dm_f0a53bf; done; done
for k in weight arch; do
  bash $A cifar10 $k 3 /tmp/dm_dcc0eb8 /tmp/dm_f0a53bf --op-sharing superkernel; done
# 2. the 5-epoch search with 495c84c's settings (/tmp/old_search.json = the `search`
#    section of docs/results/full_search_2026-11-28/config.json), new binary then old
for b in f0a53bf dcc0eb8; do
  /usr/bin/time -v /tmp/dm_$b search --space configs/cifar10.json --data /tmp/cifar \
      --out /tmp/full_$b --epochs 5 --op-sharing superkernel --arch-every 4 \
      --config /tmp/old_search.json
done
# 3. the squeeze-excitation ops: f0a53bf against the build of 36f9e55 (dm_planes),
#    alternating, five rounds (ab_planes.txt)
for r in 1 2 3 4 5; do for b in f0a53bf planes; do
  RAYON_NUM_THREADS=2 /tmp/dm_$b bench --space configs/cifar10.json --steps 8
  RAYON_NUM_THREADS=2 /tmp/dm_$b bench --space configs/cifar10.json --steps 8 --op-sharing superkernel
done; done
