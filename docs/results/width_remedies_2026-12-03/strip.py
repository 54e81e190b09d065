#!/usr/bin/env python3
"""A `dmasking fidelity` report on Channel-Bench-Macro reduced to what we may commit: the tau
values, counts and band centre (its networks' keys and the benchmark's accuracies left
out: the benchmark has no licence); prints the mean one-shot top-1 of the band's networks.
usage: strip.py FIDELITY_JSON OUT_JSON"""
import json, sys
r = json.load(open(sys.argv[1]))
band = [n["oneshot_top1"] for n in r["networks"] if n["in_band"]]
out = {k: r[k] for k in ("overall", "band", "band_centre")}
out["band_mean_oneshot_top1"] = sum(band) / len(band)
out["note"] = "keys and per-network scores left out (Channel-Bench-Macro has no licence)"
json.dump(out, open(sys.argv[2], "w"), indent=1)
print(f"band mean one-shot top-1 {100 * out['band_mean_oneshot_top1']:.1f} % over {len(band)}")
