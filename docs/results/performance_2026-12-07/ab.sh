sp=$1; k=$2; r=$3; A=$4; B=$5; shift 5
for i in $(seq $r); do for b in $A $B; do
  ms=$(RAYON_NUM_THREADS=2 $b bench --space configs/$sp.json --batch-size 64 --steps 8 --only $k --json "$@" | python3 -c "import json,sys; r=json.load(sys.stdin); s=r['weight_step'] or r['arch_step']; print(round(s['median_ms'],1))")
  echo "$sp $k $(basename $b) $ms"
done; done
