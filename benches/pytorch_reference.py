#!/usr/bin/env python3
"""The dmasking supernet in PyTorch, for a side-by-side with `dmasking bench`.

Builds the same supernet from the same dmasking-space/1 file by the same rules
(docs/ALGORITHM.md: masks after BN+act, expansion mask after pw and dw,
stage-shared output mask, kernel x SE branches + skip, probability-weighted
residual and pw, resolution sub-lattices, effective-shape expected FLOPs), runs
weight steps (SGD, momentum 0.9, no dampening) and architecture steps (Adam,
eps 1e-8, FLOP term CE + C / C_uniform) on random data, and prints the same
JSON as `dmasking bench --json`.

    pip install torch
    python3 benches/pytorch_reference.py --space configs/cifar10.json --batch-size 32 --steps 5

peak_mib here is the growth of the process's peak RSS during the timed steps
(ru_maxrss); dmasking reports the peak heap above the pre-step level.
"""
import argparse
import json
import math
import resource
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def divisible(x, d):
    if x > 0 and float(x).is_integer() and int(x) % d == 0:
        return int(x)
    v = max(math.floor(x / d + 0.5), 1) * d
    if v < 0.95 * x:
        v += d
    return max(v, d)


def se_hidden(mid, d):
    return divisible(math.floor(mid * 0.25), d)


def act_fn(name):
    return nn.Hardswish() if name == "hswish" else nn.ReLU()


class ConvBnAct(nn.Module):
    def __init__(self, cin, cout, k=1, stride=1, groups=1, bias=False, act=None):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=bias)
        self.bn = nn.BatchNorm2d(cout)
        self.act = act_fn(act) if act else nn.Identity()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


def prefix(widths):
    c = max(widths)
    return torch.tensor([[1.0 if w > j else 0.0 for j in range(c)] for w in widths])


def eq_matrix(a, b):
    m = torch.tensor([[1.0 if x == y else 0.0 for y in b] for x in a])
    return m if m.sum() > 0 else None


def mask(g, p):
    return (g.unsqueeze(0) @ p).reshape(1, -1, 1, 1)


def fit(x, c):
    n = x.shape[1]
    if n == c:
        return x
    if n > c:
        return x[:, :c]
    return F.pad(x, (0, 0, 0, 0, 0, c - n))


class Options:
    def __init__(self, values, choice):
        self.values, self.choice = values, choice

    def max(self):
        return max(self.values)


class Plan:
    """Choices and widths, resolved as src/supernet/plan.rs does."""

    def __init__(self, space):
        self.choices = []
        d = space.get("width_divisor", 8)

        def choose(name, n):
            if n < 2:
                return None
            self.choices.append((name, n))
            return len(self.choices) - 1

        res = space.get("resolutions") or [space["input_size"]]
        self.resolution = Options(res, choose("resolution", len(res)))
        c_in = Options([space["stem"]["out"]], None)
        strides = [space["stem"]["stride"]]
        self.stage_out, self.blocks = [], []
        for s, st in enumerate(space["stages"]):
            out = Options(st["out"], choose(f"stage{s}.width", len(st["out"])))
            kernels, ses = st.get("kernel", [3]), st.get("se", [False])
            branches = [(k, se) for k in kernels for se in ses]
            for b in range(st["blocks"]):
                bin_ = c_in if b == 0 else out
                mids = [divisible(bin_.max() * e, d) for e in st["expansion"]]
                mid = Options(mids, choose(f"s{s}b{b}.e", len(mids)))
                skip = st.get("skip", False) and b > 0
                op = choose(f"s{s}b{b}.op", len(branches) + int(skip))
                stride = st["stride"] if b == 0 else 1
                boundary = len(strides)
                strides.append(stride)
                self.blocks.append(dict(stage=s, index=b, stride=stride, act=st.get("act", "relu"),
                                        c_in=bin_, mid=mid, se_hidden=[se_hidden(m, d) for m in mids],
                                        c_out=out, branches=branches, skip=skip, op=op, boundary=boundary))
            c_in = out
            self.stage_out.append(out)

        def walk(r):
            v = [r]
            for s in strides:
                v.append((v[-1] - 1) // s + 1)
            return v

        self.full = walk(space["input_size"])
        per = [walk(r) for r in res]
        self.sizes = [[p[b] for p in per] for b in range(len(self.full))]
        self.head_c = c_in
        self.head_mid = [divisible(c * space["head"]["expansion"], d) for c in c_in.values]


def gw(opt, g):
    return g[opt.choice] if opt.choice is not None else torch.ones(1)


class IrBranch(nn.Module):
    def __init__(self, cin, mid, cout, k, stride, se, act, pw):
        super().__init__()
        self.pw = ConvBnAct(cin, mid, act=act) if pw else None
        self.dw = ConvBnAct(mid, mid, k, stride, groups=mid, act=act)
        if se:
            self.se_reduce = nn.Conv2d(mid, se, 1)
            self.se_expand = nn.Conv2d(se, mid, 1)
            self.se_act = act_fn(act)
        self.has_se = bool(se)
        self.pwl = ConvBnAct(mid, cout)
        self.mid = mid

    def forward(self, x, m):
        def msk(t, mm):
            return t * mm if mm is not None else t
        if self.pw is not None:
            h = msk(self.pw(x), m["expand"])
            if m["pw_keep"] is not None:
                p = m["pw_keep"]
                h = h * p + fit(x, self.mid) * (1 - p)
        else:
            h = x
        h = msk(self.dw(h), m["expand"])
        if self.has_se:
            s = self.se_act(self.se_reduce(h.mean((2, 3), keepdim=True)))
            s = msk(s, m["se"])
            h = h * F.hardsigmoid(self.se_expand(s))
        return msk(self.pwl(h), m["out"])


class SuperBlock(nn.Module):
    def __init__(self, p):
        super().__init__()
        self.p = p
        mids, cin = p["mid"].values, p["c_in"].values
        all_eq = all(m == c for m in mids for c in cin)
        se_max = max(p["se_hidden"])
        self.branches = nn.ModuleList([
            IrBranch(p["c_in"].max(), p["mid"].max(), p["c_out"].max(), k, p["stride"],
                     se_max if se else 0, p["act"], not all_eq) for k, se in p["branches"]])
        searched = p["mid"].choice is not None
        self.register_buffer("mid_prefix", prefix(mids) if searched else None)
        has_se = any(se for _, se in p["branches"])
        self.register_buffer("se_prefix", prefix(p["se_hidden"]) if searched and has_se else None)
        self.register_buffer("mid_values", torch.tensor(mids, dtype=torch.float))
        self.register_buffer("se_values", torch.tensor(p["se_hidden"], dtype=torch.float))
        self.register_buffer("pw_eq", None if all_eq else eq_matrix(mids, cin))
        first_s1 = p["index"] == 0 and p["stride"] == 1
        self.register_buffer("res_eq", eq_matrix(cin, p["c_out"].values) if first_s1 else None)

    def weights(self, g, out_mask):
        p = self.p
        g_mid, g_in, g_out = gw(p["mid"], g), gw(p["c_in"], g), gw(p["c_out"], g)
        m = dict(expand=mask(g_mid, self.mid_prefix) if self.mid_prefix is not None else None,
                 se=mask(g_mid, self.se_prefix) if self.se_prefix is not None else None,
                 out=out_mask,
                 pw_keep=(1 - g_mid @ self.pw_eq @ g_in).reshape(1, 1, 1, 1) if self.pw_eq is not None else None)
        branch = [g[p["op"]][t].reshape(1, 1, 1, 1) for t in range(len(p["branches"]))] if p["op"] is not None else None
        if p["stride"] != 1:
            res = None
        elif p["index"] > 0:
            res = 1.0
        elif self.res_eq is None:
            res = None
        elif p["c_in"].choice is None and p["c_out"].choice is None:
            res = 1.0
        else:
            res = (g_in @ self.res_eq @ g_out).reshape(1, 1, 1, 1)
        return m, branch, res

    def forward(self, x, w):
        m, branch, res = w
        outs = [b(x, m) for b in self.branches]
        y = sum(o * gb for o, gb in zip(outs, branch)) if branch is not None else sum(outs)
        if res is not None:
            y = y + fit(x, self.p["c_out"].max()) * res
        return y

    def cost(self, g, c_in, c_out, a_in, a_out):
        p = self.p
        if p["mid"].choice is not None:
            mid = g[p["mid"].choice] @ self.mid_values
            se = g[p["mid"].choice] @ self.se_values
        else:
            mid, se = float(p["mid"].values[0]), float(p["se_hidden"][0])
        if self.pw_eq is not None:
            pw = 1 - gw(p["mid"], g) @ self.pw_eq @ gw(p["c_in"], g)
        else:
            pw = 1.0 if self.branches[0].pw is not None else 0.0
        total = 0.0
        for t, (k, has_se) in enumerate(p["branches"]):
            c = a_in * c_in * mid * pw + k * k * a_out * mid + mid * c_out * a_out
            if has_se:
                c = c + mid * a_out + 2 * mid * se
            total = total + (c * g[p["op"]][t] if p["op"] is not None else c)
        return total


class Supernet(nn.Module):
    def __init__(self, space):
        super().__init__()
        self.space = space
        self.plan = pl = Plan(space)
        st = space["stem"]
        self.stem = ConvBnAct(space.get("in_channels", 3), st["out"], st["kernel"], st["stride"], bias=True, act=st.get("act", "relu"))
        self.blocks = nn.ModuleList([SuperBlock(b) for b in pl.blocks])
        hd = space["head"]
        c_max, m_max = pl.head_c.max(), max(pl.head_mid)
        absent = [float(m == c) for m, c in zip(pl.head_mid, pl.head_c.values)]
        self.head_pw = None if all(a == 1 for a in absent) else ConvBnAct(c_max, m_max, act=hd.get("act", "relu"))
        self.head_absent = torch.tensor(absent) if 0 < sum(absent) < len(absent) else None
        self.head_prefix = prefix(pl.head_mid) if pl.head_c.choice is not None else None
        self.head_conv = nn.Conv2d(m_max, hd["out"], 1, bias=False)
        self.head_act = act_fn(hd.get("act", "relu"))
        self.dropout = nn.Dropout(space.get("dropout", 0.0))
        self.classifier = nn.Linear(hd["out"], space.get("num_classes", 1000))
        self.width_prefix = [prefix(o.values) if o.choice is not None else None for o in pl.stage_out]
        self.idx = [[torch.tensor([j * f // r for j in range(r)]) for r in rs] for f, rs in zip(pl.full, pl.sizes)]

    def head_features(self, x, g):
        if self.head_pw is None:
            return x
        g_last = gw(self.plan.head_c, g)
        h = self.head_pw(x)
        if self.head_prefix is not None:
            h = h * mask(g_last, self.head_prefix)
        if self.head_absent is not None:
            a = (g_last * self.head_absent).sum().reshape(1, 1, 1, 1)
            h = h * (1 - a) + fit(x, h.shape[1]) * a
        return h

    def forward(self, x, g):
        pl = self.plan
        masks = [mask(gw(o, g), p) if p is not None else None for o, p in zip(pl.stage_out, self.width_prefix)]
        ws = [b.weights(g, masks[b.p["stage"]]) for b in self.blocks]
        if pl.resolution.choice is None:
            x = self.stem(x)
            for b, w in zip(self.blocks, ws):
                x = b(x, w)
            pooled = self.head_features(x, g).mean((2, 3), keepdim=True)
        else:
            g_r = g[pl.resolution.choice]
            m = len(pl.resolution.values)

            def gather(x, b, i):
                idx = self.idx[b][i]
                return x if len(idx) == pl.full[b] else x.index_select(2, idx).index_select(3, idx)

            def scatter(y, b, i):
                idx, f = self.idx[b][i], pl.full[b]
                if len(idx) == f:
                    return y
                n, c, r, _ = y.shape
                cols = y.new_zeros(n, c, r, f).index_add(3, idx, y)
                return y.new_zeros(n, c, f, f).index_add(2, idx, cols)

            def mix(x, b, fn):
                return sum(scatter(fn(gather(x, b, i)), b + 1, i) * g_r[i] for i in range(m))

            x = mix(x, 0, self.stem)
            for blk, w in zip(self.blocks, ws):
                x = mix(x, blk.p["boundary"], lambda t, blk=blk, w=w: blk(t, w))
            last = len(pl.full) - 1
            pooled = sum(self.head_features(gather(x, last, i), g).mean((2, 3), keepdim=True) * g_r[i] for i in range(m))
        z = self.head_act(self.head_conv(pooled)).flatten(1)
        return self.classifier(self.dropout(z))

    def expected_flops(self, g):
        pl, sp = self.plan, self.space

        def area(b):
            if pl.resolution.choice is None:
                return float(pl.full[b] ** 2)
            h = g[pl.resolution.choice] @ torch.tensor(pl.sizes[b], dtype=torch.float)
            return h * h

        def width(s):
            o = pl.stage_out[s]
            return g[o.choice] @ torch.tensor(o.values, dtype=torch.float) if o.choice is not None else float(o.values[0])

        st = sp["stem"]
        total = st["kernel"] ** 2 * area(1) * sp.get("in_channels", 3) * st["out"]
        c_in = float(st["out"])
        for blk in self.blocks:
            c_out = width(blk.p["stage"])
            total = total + blk.cost(g, c_in, c_out, area(blk.p["boundary"]), area(blk.p["boundary"] + 1))
            c_in = c_out
        hc = pl.head_c
        if hc.choice is not None:
            mid = g[hc.choice] @ torch.tensor(pl.head_mid, dtype=torch.float)
            pw = 1 - (g[hc.choice] * self.head_absent).sum() if self.head_absent is not None else float(self.head_pw is not None)
        else:
            mid, pw = float(pl.head_mid[0]), float(self.head_pw is not None)
        out, classes, a = sp["head"]["out"], sp.get("num_classes", 1000), area(len(pl.full) - 1)
        return total + a * c_in * mid * pw + mid * a + mid * out + out + out * classes


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--space", required=True)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--compile", action="store_true",
                    help="run the supernet's forward through torch.compile (compiled in the warm-up steps)")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    space = json.load(open(a.space))
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    net = Supernet(space)
    logits = [nn.Parameter(torch.zeros(n)) for _, n in net.plan.choices]
    model_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024
    w_opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    a_opt = torch.optim.Adam(logits, lr=0.01, weight_decay=5e-4, eps=1e-8)
    with torch.no_grad():
        uniform = float(net.expected_flops([F.softmax(l, 0) for l in logits]))
    s, n_cls = space["input_size"], space.get("num_classes", 1000)

    def data():
        return torch.randn(a.batch_size, space.get("in_channels", 3), s, s), torch.randint(0, n_cls, (a.batch_size,))

    def sample():
        return [F.softmax((l - torch.log(-torch.log(torch.rand_like(l).clamp_min(1e-10)))) / 1.0, 0) for l in logits]

    forward = torch.compile(net) if a.compile else net

    def weight_step():
        x, y = data()
        g = [t.detach() for t in sample()]
        loss = F.cross_entropy(forward(x, g), y)
        w_opt.zero_grad(set_to_none=True)
        loss.backward()
        w_opt.step()

    def arch_step():
        x, y = data()
        for p in net.parameters():
            p.requires_grad_(False)
        g = sample()
        loss = F.cross_entropy(forward(x, g), y) + net.expected_flops(g) / uniform
        a_opt.zero_grad(set_to_none=True)
        loss.backward()
        a_opt.step()
        for p in net.parameters():
            p.requires_grad_(True)

    def measure(fn):
        fn()
        if a.compile:  # the arch step's first call recompiles (weights frozen)
            fn()
        times, before = [], resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        for _ in range(a.steps):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
        m = statistics.median(times)
        return {"median_ms": m * 1e3, "images_per_s": a.batch_size / m, "peak_mib": peak}

    net.train()
    report = {"space": space.get("name"), "batch_size": a.batch_size, "steps": a.steps,
              "threads": torch.get_num_threads(), "weight_step": measure(weight_step),
              "arch_step": measure(arch_step), "model_mib": model_mib,
              "uniform_expected_mflops": uniform / 1e6, "framework": f"pytorch {torch.__version__}" + (" compiled" if a.compile else "")}
    print(json.dumps(report))


if __name__ == "__main__":
    main()
