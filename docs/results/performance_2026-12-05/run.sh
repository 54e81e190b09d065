set -u
cd /work/main
O=/tmp/perf05
mkdir -p $O
echo "start $(date +%T) $(uptime)" > $O/uptime.log
for sp in cifar10 nas_bench_macro; do for k in weight arch; do
  THREADS=2 bash scripts/profile.sh configs/$sp.json $k 8 > $O/profile_${sp}_$k.txt 2>&1
done; done
echo "profiles done $(date +%T) $(uptime)" >> $O/uptime.log
THREADS=2 COMPILE=1 bash benches/compare.sh configs/cifar10.json 256 3 > $O/compare_cifar10_b256.md 2> $O/compare_cifar10_b256.err
echo "compare done $(date +%T) $(uptime)" >> $O/uptime.log
rm -rf /tmp/full
/usr/bin/time -v target/release/dmasking search --space configs/cifar10.json --data /tmp/cifar \
    --out /tmp/full --epochs 5 --op-sharing superkernel --arch-every 4 --config /tmp/old_search.json \
    > $O/full_stdout.txt 2> $O/full_time-v.txt
echo "search done $(date +%T) $(uptime)" >> $O/uptime.log
