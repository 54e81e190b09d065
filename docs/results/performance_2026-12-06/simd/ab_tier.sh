# One binary, the kernels' SIMD tier alternating (DMASKING_SIMD=avx2, then unset: AVX-512):
#   bash ab_tier.sh SPACE weight|arch ROUNDS BINARY [bench flags]
# batch 64, 8 timed steps, 2 rayon threads; prints the median step in ms per run.
sp=$1; k=$2; r=$3; B=$4; shift 4
for i in $(seq $r); do for t in ${ORDER:-avx2 avx512}; do
  ms=$(DMASKING_SIMD=$t RAYON_NUM_THREADS=2 $B bench --space configs/$sp.json --batch-size 64 --steps 8 --only $k --json "$@" | python3 -c "import json,sys; r=json.load(sys.stdin); s=r['weight_step'] or r['arch_step']; print(round(s['median_ms'],1))")
  echo "$sp $k $t $ms $*"
done; done
