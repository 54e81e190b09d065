#!/usr/bin/env python3
"""The table of docs/RESULTS.md "NAS-Bench-Macro under a latency limit".

usage: summary.py BINARY RUNS   (RUNS: the OUTDIR of searches.sh / baselines.sh)

Per latency budget (25/50/75 % of the measured range) and seed: the latency search's
network (its percentile in its measured latency band, its measured latency), the
FLOP-budget search of docs/results/nas_bench_macro_2026-11-27 at the same fraction of
the FLOP range (its selected network, looked up in its own latency band), and in the
latency search's band the one-shot best of 20 random networks and the random mean.
"""
import json, os, subprocess, sys

B, RUNS = sys.argv[1], sys.argv[2]
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "../../.."))
BENCH = f"{REPO}/data/nas-bench-macro/nas-bench-macro_cifar10.json"
LAT = f"{REPO}/data/nas-bench-macro/latency_onnxruntime-1.32.0_2core.json"
FLOPS = f"{REPO}/docs/results/nas_bench_macro_2026-11-27"
BUDGET = {25: 0.2954, 50: 0.5151, 75: 0.7348}


def lookup(arch):
    out = subprocess.run([B, "lookup", "--benchmark", BENCH, "--arch", arch, "--latency", LAT,
                          "--json"], check=True, capture_output=True, text=True).stdout
    return json.loads(out)


print("| budget | seed | latency search: latency band (ms) | FLOP search: latency band (ms) "
      "| one-shot best of 20: latency band | 20 random: mean latency band |")
print("|---|---|---|---|---|---|")
rows = []
for pct, ms in BUDGET.items():
    for seed in (0, 1):
        r = f"{RUNS}/lat-{pct}-seed{seed}"
        if not os.path.exists(f"{r}/arch.json"):
            continue
        lat = lookup(f"{r}/arch.json")
        flop_dir = f"{FLOPS}/search-{pct}" + ("-seed1" if seed else "")
        flop = lookup(f"{flop_dir}/arch-select16.json")
        base = json.load(open(f"{r}/baselines.json")) if os.path.exists(f"{r}/baselines.json") else None
        one = (f"{base['oneshot_best']['latency']['percentile']:.1f}" if base else "–")
        mean = (f"{base['random_mean_latency_percentile']:.1f}" if base else "–")
        print(f"| {pct} %: {ms} ms | {seed} | **{lat['latency']['percentile']:.1f}** "
              f"({lat['latency']['ms']:.3f}) | {flop['latency']['percentile']:.1f} "
              f"({flop['latency']['ms']:.3f}) | {one} | {mean} |")
        rows.append((lat["latency"]["percentile"], flop["latency"]["percentile"]))
if rows:
    n = len(rows)
    print(f"\nmean over {n}: latency search {sum(a for a, _ in rows) / n:.1f}, "
          f"FLOP search {sum(b for _, b in rows) / n:.1f}; latency search >= 80th in "
          f"{sum(a >= 80 for a, _ in rows)} of {n}")
