"""Prediction against measurement, from predict.sh's lines: the share of networks predicted
within ±10 % (and ±5 %) of their measured latency, mean absolute error, and Kendall's tau-b
of the prediction and of FLOPs against the measured order.
usage: accuracy.py MEASURED.jsonl [--fit A.jsonl]  (--fit: scale predictions by a factor
fitted on another seed's lines, the least-squares ratio measured/predicted)"""
import json, sys


def tau_b(x, y):
    n, conc, disc, tx, ty = len(x), 0, 0, 0, 0
    for i in range(n):
        for j in range(i + 1, n):
            dx, dy = x[i] - x[j], y[i] - y[j]
            if dx == 0 and dy == 0:
                continue
            if dx == 0:
                tx += 1
            elif dy == 0:
                ty += 1
            elif (dx > 0) == (dy > 0):
                conc += 1
            else:
                disc += 1
    d = ((conc + disc + tx) * (conc + disc + ty)) ** 0.5
    return (conc - disc) / d if d else float("nan")


def load(p):
    return [json.loads(l) for l in open(p) if l.strip()]


rows = load(sys.argv[1])
scale = 1.0
if "--fit" in sys.argv:
    fit = load(sys.argv[sys.argv.index("--fit") + 1])
    scale = sum(r["measured_ms"] * r["predicted_ms"] for r in fit) / sum(r["predicted_ms"] ** 2 for r in fit)
pred = [r["predicted_ms"] * scale for r in rows]
meas = [r["measured_ms"] for r in rows]
flops = [r["mflops"] for r in rows]
rel = [p / m - 1 for p, m in zip(pred, meas)]
n = len(rows)
print(json.dumps({
    "networks": n,
    "scale": scale,
    "within_10pct": sum(abs(r) <= 0.10 for r in rel) / n,
    "within_5pct": sum(abs(r) <= 0.05 for r in rel) / n,
    "mean_abs_error_ms": sum(abs(p - m) for p, m in zip(pred, meas)) / n,
    "mean_rel_error": sum(rel) / n,
    "mean_abs_rel_error": sum(abs(r) for r in rel) / n,
    "worst_rel_error": max(rel, key=abs),
    "tau_predicted": tau_b(pred, meas),
    "tau_flops": tau_b(flops, meas),
    "measured_ms": [min(meas), max(meas)],
    "load_average": [min(r["load_average"] for r in rows), max(r["load_average"] for r in rows)],
}))
