# What ran on 2026-12-06 (second session, 2-core development machine, nothing else
# running): compare.sh on the four spaces, twice, HEAD at 01a29e3 (83e373d's source, the
# add_scaled and SE plane kernels in; tests changed only), PyTorch 2.15.0+cu132 (CPU).
set -u
cd "$(dirname "$0")/../../../.."
O=docs/results/performance_2026-12-06/compare
for pass in 1 2; do
  for s in cifar10 nas_bench_macro cifar10_tiny channel_bench_macro_mobilenet; do
    echo "== $s $(date +%T) $(uptime)" >> $O/uptime_$pass.log
    THREADS=2 COMPILE=1 benches/compare.sh configs/$s.json 64 5 > $O/compare_${s}_$pass.md 2>&1
    echo "rc $? $(date +%T) $(uptime)" >> $O/uptime_$pass.log
  done
done
