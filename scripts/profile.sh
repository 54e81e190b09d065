#!/usr/bin/env bash
# Where one kind of supernet step spends its time, and how busy the cores are.
#
#   scripts/profile.sh SPACE weight|arch [STEPS] [BATCH]     e.g. scripts/profile.sh configs/cifar10.json arch
#
# Runs `dmasking bench --only KIND` (branches, masked: the paper's step; THREADS rayon
# threads, default all cores) twice, with nothing else running: under `perf stat` (the
# cores' busy share: CPU time / (THREADS x wall time), set-up and warm-up step included),
# then under `perf record -g` (self time per symbol and per thread). The spin share is
# the share of samples in rayon's idle loop, yields, futex waits and the scheduler
# (symbols matching SPIN): on-CPU time that does no work. OP_SHARING=superkernel profiles
# the search's default step instead of the paper's. Needs Debian's linux-perf.
set -euo pipefail
cd "$(dirname "$0")/.."
SPACE=${1:?usage: scripts/profile.sh SPACE weight|arch [STEPS] [BATCH]}
KIND=${2:?usage: scripts/profile.sh SPACE weight|arch [STEPS] [BATCH]}
STEPS=${3:-8}
BATCH=${4:-64}
THREADS=${THREADS:-$(nproc)}
SHARING=${OP_SHARING:-branches}
B=${DMASKING:-target/release/dmasking}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
SPIN='rayon_core::sleep|WorkerThread::wait|spin_loop|sched_yield|yield_now|futex|crossbeam_deque.*steal|crossbeam_epoch|schedule|finish_task_switch|pv_queued_spin|do_idle'
bench() { env RAYON_NUM_THREADS="$THREADS" "$B" bench --space "$SPACE" --batch-size "$BATCH" \
    --steps "$STEPS" --only "$KIND" --op-sharing "$SHARING" --json; }
echo "# $SPACE, $KIND step ($SHARING, masked), batch $BATCH, $THREADS threads, $STEPS timed steps"
echo "# $(git rev-parse --short HEAD); uptime before: $(uptime)"
perf stat -e task-clock -o "$OUT/stat.txt" -- env RAYON_NUM_THREADS="$THREADS" "$B" bench \
    --space "$SPACE" --batch-size "$BATCH" --steps "$STEPS" --only "$KIND" --op-sharing "$SHARING" --json > "$OUT/bench.json"
python3 - "$OUT" "$THREADS" <<'PY'
import json, re, sys
out, threads = sys.argv[1], int(sys.argv[2])
r = json.load(open(f"{out}/bench.json"))
s = r["weight_step"] or r["arch_step"]
txt = open(f"{out}/stat.txt").read()
cpu = float(re.search(r"([\d.,]+) msec task-clock", txt).group(1).replace(",", "")) / 1e3
wall = float(re.search(r"([\d.,]+) seconds time elapsed", txt).group(1).replace(",", ""))
print(f"median step {s['median_ms']:.1f} ms; whole run {wall:.2f} s wall, {cpu:.2f} s CPU: "
      f"{100 * cpu / wall:.0f} % of one core, {100 * cpu / (threads * wall):.0f} % of {threads}")
PY
perf record -q -F 499 -g -o "$OUT/perf.data" -- env RAYON_NUM_THREADS="$THREADS" "$B" bench \
    --space "$SPACE" --batch-size "$BATCH" --steps "$STEPS" --only "$KIND" --op-sharing "$SHARING" > /dev/null 2>&1
perf report -i "$OUT/perf.data" --no-children --sort symbol --stdio 2>/dev/null \
    | grep -E '^ +[0-9.]+%' | sed -E 's/ +- +- *$//; s/ +$//' > "$OUT/symbols.txt"
perf report -i "$OUT/perf.data" --no-children --sort pid --stdio 2>/dev/null \
    | grep -E '^ +[0-9.]+%' | sed -E 's/ +- +- *$//; s/ +$//' > "$OUT/threads.txt"
echo "## self time, top 20"; head -20 "$OUT/symbols.txt"
echo "## per thread"; cat "$OUT/threads.txt"
echo -n "## spin, yield, wait and scheduler share of the samples: "
grep -E "$SPIN" "$OUT/symbols.txt" | awk '{s += $1} END {printf "%.2f %%\n", s}'
