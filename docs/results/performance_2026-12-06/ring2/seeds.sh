# Is the new weight gradient's loss within the spread of seeds? One epoch (weight steps
# only) on 10,000 images, seeds 0-2, old (79186ec, tap_sums) and new (dcc1d33, the row
# ring at strides 1 and 2) binaries alternating; /tmp/seedcheck_S.json = the `search`
# section of docs/results/full_search_2026-11-28/config.json with epochs 1,
# max_images 10000, seed S and a 1-candidate selection. Prints the epoch's mean weight loss.
set -u
cd /work/main
for seed in 0 1 2; do for b in base head; do
  /tmp/dm_$b search --space configs/cifar10.json --data /tmp/cifar --out /tmp/seeds_${b}_$seed \
      --epochs 1 --op-sharing superkernel --arch-every 4 --config /tmp/seedcheck_$seed.json \
      --force > /tmp/seeds_${b}_$seed.log 2>&1 || { echo "seed $seed $b failed"; continue; }
  echo "seed $seed $b $(grep -o 'epoch 1/1: loss [0-9.]*' /tmp/seeds_${b}_$seed.log | awk '{print $4}')"
done; done
