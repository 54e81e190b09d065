import sys, re, collections
blocks = open(sys.argv[1]).read().split("\n\n")
rows=[]
for b in blocks:
    lines = [l for l in b.split("\n") if l.strip()]
    if len(lines) < 2: continue
    fr=[]
    for l in lines[1:]:
        p = l.strip().split(" ", 1)
        if len(p) == 2: fr.append(re.sub(r"\+0x[0-9a-f]+$", "", p[1].replace(" (inlined)", "")))
    rows.append((lines[0].split()[0], fr))
tids = collections.Counter(t for t,_ in rows)
# main = the tid with dmasking::bench frames
main = collections.Counter(t for t,fr in rows if any('Timing::measure' in f or 'main' == f for f in fr)).most_common(1)[0][0]
cats = [("elementwise burn_flex", r"burn_flex::(zip|ops::binary|ops::unary|simd|ops::reduce|ops::mask|ops::float|ops::comparison|ops::expand|ops::repeat|ops::slice|ops::cat|strided|copy)|macerator|spec_extend|zip_map|zip_apply"),
        ("conv (burn)", r"burn_flex::ops::conv"),
        ("our kernels (serial part)", r"dmasking::kernels"),
        ("alloc/free/pagefault", r"malloc|free|_int_|alloc::alloc|page_fault|clear_page|mmap|munmap|Counting"),
        ("autodiff bookkeeping", r"burn_autodiff::(runtime|graph|checkpoint|grads)|hashbrown|btree"),
        ("rayon wait", r"rayon|futex|schedule|sched"),
]
c=collections.Counter(); n=0
for t, fr in rows:
    if t != main: continue
    n+=1
    leafish = " ".join(fr[:6])
    for name, pat in cats:
        if re.search(pat, leafish): c[name]+=1; break
    else: c["other: "+fr[0][:60]]+=1
print("main", main, "samples", n, "of", len(rows), tids)
for k,v in c.most_common(25): print(f"{100*v/n:5.1f}% of main  {k}")
print("---- element-wise by origin")
c2=collections.Counter()
def simp(f):
    for _ in range(4): f = re.sub(r"<[^<>]*>", "", f)
    return f[:80]
for t, fr in rows:
    if t != main: continue
    if not re.search(cats[0][1], " ".join(fr[:6])): continue
    op = next((simp(f) for f in fr if re.search(r"burn_flex::ops::\w+::\w+$|burn_flex::(zip|simd)", f)), "?")
    origin = next((simp(f) for f in fr if (f.startswith("dmasking::") and 'alloc' not in f) or re.search(r"Backward>::backward|backward::(binary|unary)|Gradients::register|Momentum|optim", f)), "?")
    c2[(op, origin)] += 1
for k,v in c2.most_common(30): print(f"{100*v/n:5.1f}%  {k[0]}  <=  {k[1]}")
