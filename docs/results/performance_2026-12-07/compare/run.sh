# What ran on 2026-12-07 (fifth session on issue 25, 2-core development machine, nothing
# else running): compare.sh on the four spaces, twice, HEAD at 55bfe85 (the depthwise
# forward in register blocks), PyTorch 2.15.0+cu132 (CPU), installed this session by
# `pip install torch==2.15.0` (2 min 27 s).
set -u
cd "$(dirname "$0")/../../../.."
O=docs/results/performance_2026-12-07/compare
for pass in 1 2; do
  for s in cifar10 nas_bench_macro cifar10_tiny channel_bench_macro_mobilenet; do
    echo "== $s $(date +%T) $(uptime)" >> $O/uptime_$pass.log
    THREADS=2 COMPILE=1 benches/compare.sh configs/$s.json 64 5 > $O/compare_${s}_$pass.md 2>&1
    echo "rc $? $(date +%T) $(uptime)" >> $O/uptime_$pass.log
  done
done
# Then once, by hand, after the profiles: batch 256 on cifar10 (uptime_b256.log).
# THREADS=2 COMPILE=1 benches/compare.sh configs/cifar10.json 256 3 > $O/compare_cifar10_b256.md
