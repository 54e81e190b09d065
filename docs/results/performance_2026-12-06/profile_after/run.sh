# What ran (2026-12-06, later session, after compare/run.sh, nothing else running):
# /tmp/dm_now = target/release/dmasking as compare.sh built it (source as at 83e373d).
cd "$(dirname "$0")/../../../.."
O=docs/results/performance_2026-12-06/profile_after
for s in cifar10 nas_bench_macro; do for k in weight arch; do
  DMASKING=/tmp/dm_now THREADS=2 scripts/profile.sh configs/$s.json $k 8 > $O/${s}_$k.txt 2>&1
done; done
# and, for masking_memory.txt: cargo bench --bench masking (criterion's progress lines filtered)
