import sys, re, collections
blocks = open(sys.argv[1]).read().split("\n\n")
main_tid = None
rows = []
for b in blocks:
    lines = [l for l in b.split("\n") if l.strip()]
    if len(lines) < 2: continue
    tid = lines[0].split()[0]
    frames = []
    for l in lines[1:]:
        l = l.strip()
        parts = l.split(" ", 1)
        if len(parts) < 2: continue
        f = parts[1].replace(" (inlined)", "")
        f = re.sub(r"\+0x[0-9a-f]+$", "", f)
        frames.append(f)
    rows.append((tid, frames))
tids = collections.Counter(t for t, _ in rows)
main = min(tids, key=int)
def simp(f):
    f = re.sub(r"<[^<>]*>", "", f); f = re.sub(r"<[^<>]*>", "", f); f = re.sub(r"<[^<>]*>", "", f)
    return f[:110]
skip = re.compile(r"dmasking::alloc|dmasking::kernels::flex_support|wide_simd|::wide$|closure|dmasking::kernels::.*::(conv_rows|tap_sums|plane_|grad_sums|input_plane|fill|lane_sum)")
cat = collections.Counter(); leafc = collections.defaultdict(collections.Counter)
total = 0; only = sys.argv[2] if len(sys.argv) > 2 else None
for tid, fr in rows:
    if not any('dmasking' in f or 'burn' in f or 'rayon' in f for f in fr): continue
    total += 1
    who = None
    for f in fr:
        if re.search(r"dmasking::", f) and not skip.search(f):
            who = simp(f); break
        if re.search(r"burn_autodiff::ops::.*backward|Backward.*::backward|burn_autodiff::runtime|burn_autodiff::graph", f):
            who = "AD: " + simp(f); break
    who = who or "other: " + simp(fr[-1] if fr else "?")
    th = "main" if tid == main else "work"
    cat[(th, who)] += 1
    leafc[(th, who)][simp(fr[0])] += 1
for (th, who), n in cat.most_common(int(sys.argv[3]) if len(sys.argv) > 3 else 45):
    top = ", ".join(f"{simp(k)[:45]} {100*v/total:.1f}" for k, v in leafc[(th, who)].most_common(3))
    print(f"{100*n/total:5.1f}% {th} {who}\n        [{top}]")
print("total", total, {("main" if t==main else t): n for t, n in tids.items()})
