# Medians of the rounds' medians per (space, step, op sharing) and binary, from the file
# named (default ab.txt): python3 summary.py [ab2.txt]
import collections, statistics, sys
d = collections.defaultdict(list)
for line in open(sys.argv[1] if len(sys.argv) > 1 else "ab.txt"):
    sp, k, b, ms, s = line.split()
    d[(sp, k, s, b)].append(float(ms))
keys = sorted({k[:3] for k in d})
bins = sorted({k[3] for k in d})
old, new = "dm_head", [b for b in bins if b != "dm_head"][0]
print(f"| space, step, op sharing | {old} | {new} | new / old | rounds new faster | old range | new range |")
print("|---|---|---|---|---|---|---|")
for k in keys:
    a, b = d[k + (old,)], d[k + (new,)]
    ma, mb = statistics.median(a), statistics.median(b)
    faster = sum(y < x for x, y in zip(a, b))
    print(f"| {k[0]}, {k[1]}, {k[2]} | {ma:.1f} | {mb:.1f} | {mb / ma:.2f} | {faster} of {len(a)} | "
          f"{min(a):.1f}–{max(a):.1f} | {min(b):.1f}–{max(b):.1f} |")
