#!/usr/bin/env bash
# dmasking vs PyTorch on the same CPU, side by side in one run.
#
#   benches/compare.sh SPACE BATCH [STEPS]        e.g. benches/compare.sh configs/cifar10.json 64
#
# Runs `dmasking bench --json` (the paper's step: branches + masked weight step; and
# superkernel, and single-path weight steps, both ours) and
# benches/pytorch_reference.py (eager; compiled too with COMPILE=1) alternately, twice
# each, with the same space, batch and thread count (THREADS, default: all cores), and
# prints per round each step's ratio PyTorch time / dmasking time (> 1: dmasking is
# faster) and both peak memories measured the same way: growth of the process's peak RSS
# over the timed steps. Fails (exit 1) unless both sides built the same supernet: their
# uniform expected MFLOPs must agree within 1e-6 relative, and before any timing the
# reference, given dmasking's weights (`dmasking bench --dump-reference`), must give
# dmasking's logits within 1e-4 under uniform and three one-hot architecture weights
# (`pytorch_reference.py --check`). Needs `pip install torch`.
set -euo pipefail
cd "$(dirname "$0")/.."
SPACE=${1:?usage: benches/compare.sh SPACE BATCH [STEPS]}
BATCH=${2:?usage: benches/compare.sh SPACE BATCH [STEPS]}
STEPS=${3:-5}
THREADS=${THREADS:-$(nproc)}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
cargo build --release --quiet
B=target/release/dmasking
$B bench --space "$SPACE" --dump-reference "$OUT/reference"
python3 benches/pytorch_reference.py --space "$SPACE" --threads "$THREADS" --check "$OUT/reference"
for round in 1 2; do
    for variant in branches:masked superkernel:masked branches:single-path; do
        sharing=${variant%%:*}
        step=${variant##*:}
        RAYON_NUM_THREADS=$THREADS $B bench --space "$SPACE" --batch-size "$BATCH" \
            --steps "$STEPS" --op-sharing "$sharing" --weight-step "$step" --json \
            > "$OUT/dmasking-$sharing-$step-$round.json"
    done
    python3 benches/pytorch_reference.py --space "$SPACE" --batch-size "$BATCH" \
        --steps "$STEPS" --threads "$THREADS" > "$OUT/pytorch-eager-$round.json"
    if [ "${COMPILE:-0}" = 1 ]; then
        python3 benches/pytorch_reference.py --space "$SPACE" --batch-size "$BATCH" \
            --steps "$STEPS" --threads "$THREADS" --compile > "$OUT/pytorch-compiled-$round.json"
    fi
done
python3 - "$OUT" "$SPACE" "$BATCH" "$THREADS" <<'PY'
import glob, json, os, sys
out, space, batch, threads = sys.argv[1:]
load = lambda f: json.load(open(f))
bad = []
ref = load(os.path.join(out, "dmasking-branches-masked-1.json"))["uniform_expected_mflops"]
for f in sorted(glob.glob(os.path.join(out, "*.json"))):
    u = load(f)["uniform_expected_mflops"]
    if abs(u - ref) > 1e-6 * abs(ref):
        bad.append(f"{os.path.basename(f)}: {u} uniform expected MFLOPs, dmasking {ref}")
if bad:
    sys.exit("the two sides did not build the same supernet:\n" + "\n".join(bad))
print(f"{space}, batch {batch}, {threads} threads; ms per step (median), ratio = PyTorch / dmasking, "
      "peak = peak-RSS growth over the timed steps (MiB)")
print("| round | dmasking (op sharing, weight step) | PyTorch | step | dmasking ms | PyTorch ms | ratio | dmasking peak | PyTorch peak |")
print("|---|---|---|---|---|---|---|---|---|")
for r in (1, 2):
    for torch_kind in ("eager", "compiled"):
        tf = os.path.join(out, f"pytorch-{torch_kind}-{r}.json")
        if not os.path.exists(tf):
            continue
        t = load(tf)
        for sharing, kind in (("branches", "masked"), ("superkernel", "masked"), ("branches", "single-path")):
            d = load(os.path.join(out, f"dmasking-{sharing}-{kind}-{r}.json"))
            for step in ("weight_step", "arch_step"):
                dm, pt = d[step], t[step]
                print(f"| {r} | {sharing}, {kind} | {torch_kind} | {step.split('_')[0]} | {dm['median_ms']:.1f} | "
                      f"{pt['median_ms']:.1f} | {pt['median_ms'] / dm['median_ms']:.2f} | "
                      f"{dm['rss_growth_mib']:.1f} | {pt['peak_mib']:.1f} |")
PY
