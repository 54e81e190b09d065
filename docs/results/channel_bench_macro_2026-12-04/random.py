#!/usr/bin/env python3
"""Summarise random.sh's output: the random networks' mean percentile in their bands and,
where they were scored one-shot, the percentile of the best of them by that score (one-shot
random search). Prints one JSON line (keys and percentiles only, no accuracies: the
benchmark's file has no licence).
usage: random.py OUT_DIR/random"""
import json, os, sys

d = sys.argv[1]
rows = [json.loads(l) for l in open(os.path.join(d, "lookup.jsonl")) if l.strip()]
out = {
    "networks": len(rows),
    "random_mean_percentile": round(sum(r["percentile"] for r in rows) / len(rows), 1),
    "keys": [r["key"] for r in rows],
    "percentiles": [round(r["percentile"], 1) for r in rows],
}
score = os.path.join(d, "score.json")
if os.path.exists(score):
    s = json.load(open(score))
    assert len(s) == len(rows), "one score per random network"
    top1 = [x["top1"] for x in s]
    best = max(range(len(rows)), key=lambda i: top1[i])
    out["oneshot_top1"] = [round(t, 4) for t in top1]
    out["best_of_20_key"] = rows[best]["key"]
    out["best_of_20_percentile"] = round(rows[best]["percentile"], 1)
print(json.dumps(out))
