#!/usr/bin/env python3
"""The selection's candidates of a Channel-Bench-Macro search judged by the benchmark:
each candidate's key and percentile within ±5 % of its FLOPs (as `dmasking lookup`
computes it), and Kendall's tau-b of the one-shot top-1 against the true accuracy over
the candidates (and of the negated one-shot loss where the selection recorded it, with
the candidate each score would choose). Writes RUN_DIR/candidates.json without the benchmark's accuracies (its
file has no licence: we commit what we measure with it, not its contents).
usage: candidates.py RESULTS_MOBILENET_JSON RUN_DIR [RUN_DIR ...]"""
import json, sys
from itertools import combinations

DIGIT_OF_CHOICE = [0, 1, 2, 4, 3, 5, 6]  # src/benchmark/channel_bench_macro.rs

def key_of(picks):
    d = ["1"] * 7
    for c, pos in enumerate(DIGIT_OF_CHOICE):
        d[pos] = str(1 + picks[c])
    return "".join(d)

def tau_b(a, b):
    c = d = ta = tb = 0
    for i, j in combinations(range(len(a)), 2):
        x, y = a[i] - a[j], b[i] - b[j]
        if x == 0 and y == 0:
            continue
        if x == 0:
            ta += 1
        elif y == 0:
            tb += 1
        elif x * y > 0:
            c += 1
        else:
            d += 1
    n0 = c + d
    den = ((n0 + ta) * (n0 + tb)) ** 0.5
    return (c - d) / den if den else 0.0

bench = json.load(open(sys.argv[1]))
def percentile(key):
    e = bench[key]
    band = [v["mean"] for v in bench.values() if abs(v["flops"] - e["flops"]) <= 0.05 * e["flops"]]
    return 100.0 * sum(1 for a in band if a < e["mean"]) / len(band), len(band)

for run in sys.argv[2:]:
    sel = json.load(open(f"{run}/selection.json"))
    rows = []
    for i, c in enumerate(sel["candidates"]):
        k = key_of(c["picks"])
        p, n = percentile(k)
        loss = c.get("loss")
        rows.append((i, c["source"], k, c["top1"], bench[k]["mean"], p, n, None if loss is None else -loss))
    chosen = rows[sel["chosen"]]
    taus = tau_b([r[3] for r in rows], [r[4] for r in rows])
    best = max(rows, key=lambda r: r[5])
    has_loss = all(r[7] is not None for r in rows)
    tau_loss = tau_b([r[7] for r in rows], [r[4] for r in rows]) if has_loss else None
    by_top1 = max(rows, key=lambda r: r[3])  # ties: the earlier (selection breaks them by probability)
    by_loss = max(rows, key=lambda r: r[7]) if has_loss else None
    out = {
        "run": run,
        "chosen": {"key": chosen[2], "percentile": chosen[5], "oneshot": chosen[3]},
        "argmax": {"key": rows[0][2], "percentile": rows[0][5]},
        "best_candidate_percentile": best[5],
        "candidates": len(rows),
        "tau_oneshot_vs_true": taus,
        "tau_neg_loss_vs_true": tau_loss,
        "by_top1_percentile": by_top1[5],
        "by_loss_percentile": by_loss[5] if by_loss else None,
        "rows": [dict(zip(["i", "source", "key", "oneshot_top1", "percentile", "band"], r[:4] + r[5:])) for r in rows],
    }
    json.dump(out, open(f"{run}/candidates.json", "w"), indent=1)
    print(f"{run}: chosen {chosen[2]} at the {chosen[5]:.1f}th percentile (argmax {rows[0][5]:.1f}th), "
          f"best candidate {best[5]:.1f}th, tau {taus:+.2f} over {len(rows)} candidates"
          + (f"; by loss: {by_loss[5]:.1f}th, tau {tau_loss:+.2f}" if has_loss else ""))
