#!/usr/bin/env python3
"""The table of docs/RESULTS.md "The default space end to end" from run.sh's OUTDIR: every
training seed found (t-NAME-seedS), their mean, and the median ONNX Runtime latency over
the rounds of latency.sh's output when given.
usage: table.py BINARY OUTDIR [LATENCY.jsonl]"""
import glob, json, os, re, statistics, subprocess, sys
B, OUT = sys.argv[1], sys.argv[2]
lat = {}
if len(sys.argv) > 3:
    for line in open(sys.argv[3]):
        x = json.loads(line)
        lat.setdefault(x["arch"], []).append(x["measure"]["measured_ms"])
nets = [("searched", "search/arch.json", "search"), ("random 0", "random/random_0.json", "random0"),
        ("random 1", "random/random_1.json", "random1"), ("random 2", "random/random_2.json", "random2"),
        ("scaled by width", "scaled-width.json", "width"),
        ("scaled by resolution", "scaled-resolution.json", "resolution")]
seeds = sorted({int(m.group(1)) for d in glob.glob(f"{OUT}/t-*-seed*")
                for m in [re.search(r"seed(\d+)$", d)] if m})
print("| network | exact MFLOPs | params | input | " + " | ".join(f"test top-1, seed {s}" for s in seeds)
      + " | mean | retraining wall s (seed 0) | ONNX Runtime ms |")
print("|---|---:|---:|---:|" + "---:|" * (len(seeds) + 3))
rand = {s: [] for s in seeds}
rand_mean = []
for label, arch, run in nets:
    f = json.loads(subprocess.run([B, "flops", "--arch", f"{OUT}/{arch}", "--json"], check=True,
                                  capture_output=True, text=True).stdout)
    tops, wall = [], ""
    cells = []
    for s in seeds:
        p = f"{OUT}/t-{run}-seed{s}/summary.json"
        if os.path.exists(p):
            v = json.load(open(p))
            tops.append(v["best_top1"])
            cells.append(f"{v['best_top1']:.4f}")
            if run.startswith("random"):
                rand[s].append(v["best_top1"])
            if s == 0:
                wall = f"{v['wall_seconds']:.0f}"
        else:
            cells.append("")
    mean = f"{statistics.mean(tops):.4f}" if tops else ""
    if run.startswith("random") and tops:
        rand_mean.append(statistics.mean(tops))
    # matched by OUTDIR's name and the file inside it (b25/search/arch.json), so that the
    # measured run directories and their copies here both match
    tail = f"/{os.path.basename(OUT.rstrip('/'))}/{arch}"
    ms = [v for a, vs in lat.items() if ("/" + a).endswith(tail) for v in vs]
    ms = f"{statistics.median(ms):.4f}" if ms else ""
    print(f"| {label} | {f['flops'] / 1e6:.3f} | {f['params']:,} | {f['input_size']} | "
          + " | ".join(cells) + f" | {mean} | {wall} | {ms} |")
if rand_mean:
    cells = [f"{statistics.mean(rand[s]):.4f} ({len(rand[s])})" if rand[s] else "" for s in seeds]
    print("| random mean | | | | " + " | ".join(cells) + f" | {statistics.mean(rand_mean):.4f} | | |")
