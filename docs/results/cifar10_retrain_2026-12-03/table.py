#!/usr/bin/env python3
"""The table of docs/RESULTS.md "The default space end to end" from run.sh's OUTDIR.
usage: table.py BINARY OUTDIR TSEED"""
import json, os, subprocess, sys
B, OUT, SEED = sys.argv[1], sys.argv[2], sys.argv[3]
nets = [("searched", "search/arch.json", "search"), ("random 0", "random/random_0.json", "random0"),
        ("random 1", "random/random_1.json", "random1"), ("random 2", "random/random_2.json", "random2"),
        ("scaled by width", "scaled-width.json", "width"),
        ("scaled by resolution", "scaled-resolution.json", "resolution")]
print("| network | exact MFLOPs | params | input | test top-1 (best.bpk, chosen on validation) | retraining wall s | images/s |")
print("|---|---|---|---|---|---|---|")
rand = []
for label, arch, run in nets:
    f = json.loads(subprocess.run([B, "flops", "--arch", f"{OUT}/{arch}", "--json"], check=True,
                                  capture_output=True, text=True).stdout)
    s = f"{OUT}/t-{run}-seed{SEED}/summary.json"
    if os.path.exists(s):
        v = json.load(open(s))
        top1, wall, ips = f"{v['best_top1']:.4f}", f"{v['wall_seconds']:.0f}", f"{v['images_per_second']:.1f}"
        if run.startswith("random"):
            rand.append(v["best_top1"])
    else:
        top1, wall, ips = "not finished", "", ""
    print(f"| {label} | {f['flops'] / 1e6:.3f} | {f['params']:,} | {f['input_size']} | {top1} | {wall} | {ips} |")
if rand:
    print(f"| random mean ({len(rand)}) | | | | {sum(rand) / len(rand):.4f} | | |")
