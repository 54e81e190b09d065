#!/usr/bin/env python3
"""How well Channel-Bench-Macro can rank its own networks inside a FLOP band: the
benchmark trained every network with three seeds, so one seed's accuracy is what a
perfect proxy (a full independent training run) would give. For the ±5 % bands around
25/50/75 % of the FLOP range (the bands of our searches): the spread of the networks'
mean accuracy, the mean per-network seed s.d., Kendall's tau-b of one seed against the
mean of the other two, and of FLOPs against the mean. Then the selection's ceiling: the
best of k random band networks chosen by one seed, judged by the percentile (in the band)
of the mean of the other two seeds; beside it, chosen by that mean itself.
Prints derived statistics only (the file has no licence; nothing of it is committed).
usage: ceiling.py RESULTS_MOBILENET_JSON"""
import json, sys
import numpy as np

def tau_b(x, y):
    x, y = np.asarray(x, float), np.asarray(y, float)
    iu = np.triu_indices(len(x), 1)
    dx = np.sign(x[:, None] - x[None, :])[iu]
    dy = np.sign(y[:, None] - y[None, :])[iu]
    den = np.sqrt((dx != 0).sum() * (dy != 0).sum())
    return (dx * dy).sum() / den if den else 0.0

bench = json.load(open(sys.argv[1]))
flops = np.array([v["flops"] for v in bench.values()])
lo, hi = flops.min(), flops.max()
rng = np.random.default_rng(0)
print(f"FLOP range {lo / 1e6:.2f} - {hi / 1e6:.2f} MFLOPs; {len(bench)} networks")
for pct in (25, 50, 75):
    c = lo + pct / 100 * (hi - lo)
    band = [v for v in bench.values() if abs(v["flops"] / c - 1) <= 0.05]
    a = np.array([v["acc"] for v in band])
    m = a.mean(1)
    others = [a[:, [j for j in range(3) if j != s]].mean(1) for s in range(3)]
    t_seed = [tau_b(a[:, s], others[s]) for s in range(3)]
    print(f"\n{pct} % band: {c / 1e6:.2f} MFLOPs ±5 %, {len(band)} networks")
    print(f"  s.d. of mean accuracy {m.std():.3f} pt; mean per-network seed s.d. {np.mean([v['std'] for v in band]):.3f} pt")
    print(f"  tau(one seed, mean of the other two): {' '.join(f'{t:+.3f}' for t in t_seed)}")
    print(f"  tau(FLOPs, mean): {tau_b([v['flops'] for v in band], m):+.3f}")
    pct_of = lambda v: np.array([(v < x).mean() * 100 for x in v])
    p_other = [pct_of(o) for o in others]
    p_mean = pct_of(m)
    for k in (1, 16, 100):
        by_seed, by_mean = [], []
        for _ in range(4000):
            idx = rng.choice(len(band), k, replace=False)
            s = rng.integers(3)
            by_seed.append(p_other[s][idx[np.argmax(a[idx, s])]])
            by_mean.append(p_mean[idx[np.argmax(m[idx])]])
        by_seed = np.array(by_seed)
        print(f"  best of {k:3d} random: chosen by one seed -> {by_seed.mean():.1f}th percentile "
              f"(>= 80th in {100 * (by_seed >= 80).mean():.0f} %); chosen by the mean -> {np.mean(by_mean):.1f}th")
