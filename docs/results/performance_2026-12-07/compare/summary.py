"""The four rounds (two compare.sh runs, two rounds each) per space: each row's four
times, and the ratio of the medians, PyTorch / dmasking (> 1: dmasking faster).
python3 summary.py  (in this folder)"""
import re, statistics, sys, os
os.chdir(os.path.dirname(os.path.abspath(__file__)))
spaces = ["cifar10", "nas_bench_macro", "cifar10_tiny", "channel_bench_macro_mobilenet"]
for s in spaces:
    rows = {}
    for run in (1, 2):
        for line in open(f"compare_{s}_{run}.md"):
            c = [x.strip() for x in line.strip().strip("|").split("|")]
            if len(c) != 9 or not c[0].isdigit():
                continue
            _, variant, torch, step, dm, pt, _, dpeak, ppeak = c
            rows.setdefault((variant, step, torch), []).append((float(dm), float(pt)))
    for (variant, step, torch), v in rows.items():
        dm = [a for a, _ in v]; pt = [b for _, b in v]
        ratio = statistics.median(pt) / statistics.median(dm)
        print(f"| {s} | {variant} | {step} | {torch} | "
              f"{' / '.join(f'{a:.1f}' for a in dm)} | {' / '.join(f'{b:.1f}' for b in pt)} | "
              f"{' / '.join(f'{b / a:.2f}' for a, b in v)} | {ratio:.2f} |")
