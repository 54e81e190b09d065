#!/usr/bin/env python3
"""The dmasking supernet in PyTorch, for a side-by-side with `dmasking bench`.

Builds the same supernet from the same dmasking-space/1 file by the same rules
(docs/ALGORITHM.md: masks after BN+act, expansion mask after pw and dw,
stage-shared output mask, kernel x SE branches + skip, probability-weighted
residual and pw, resolution sub-lattices, effective-shape expected FLOPs) for any
space file dmasking reads (stem width lists, stages with or without `out`, coupled
`ops` lists, `skip_first`, `skip_act`, `conv` heads with width lists), runs
weight steps (SGD, momentum 0.9, no dampening) and architecture steps (Adam,
eps 1e-8, FLOP term CE + C / C_uniform) on random data, and prints the same
JSON as `dmasking bench --json`; benches/compare.sh refuses a run whose
uniform_expected_mflops differs from dmasking's by more than 1e-6 relative.

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
    return {"hswish": nn.Hardswish, "relu": nn.ReLU, "none": nn.Identity}[name]()


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

    def same(self, other):
        """Equal whatever is picked: one choice picks both, or both fixed and equal."""
        return self.values == other.values and self.choice == other.choice


def pw_fixed(mid, c_in):
    """The pw expansion of hidden width `mid` is present for every input width (True),
    for none (False), or depends on the input-width choice (None)."""
    equal = sum(1 for c in c_in if c == mid)
    return True if equal == 0 else False if equal == len(c_in) else None


def op_label(kernel, e, se):
    e = "" if e is None else f"_e{float(e)}"
    return f"k{kernel}{e}{'_se' if se else ''}"


class Plan:
    """Choices and widths, resolved as src/supernet/plan.rs does, in its passes and its
    choice order: resolution, stem width, per stage its width then per block its
    expansion and op, head width."""

    def __init__(self, space):
        self.choices = []
        d = space.get("width_divisor", 8)

        def choose(name, n):
            if n < 2:
                return None
            self.choices.append((name, n))
            return len(self.choices) - 1

        def values(name, v):
            v = v if isinstance(v, list) else [v]
            return Options(v, choose(name, len(v)))

        res = space.get("resolutions") or [space["input_size"]]
        self.resolution = Options(res, choose("resolution", len(res)))
        self.stem_out = values("stem.width", space["stem"]["out"])
        c_in = self.stem_out
        strides, kernels = [space["stem"]["stride"]], [space["stem"]["kernel"]]
        self.stage_out, self.blocks = [], []
        for s, st in enumerate(space["stages"]):
            out = values(f"stage{s}.width", st["out"]) if "out" in st else c_in
            for b in range(st["blocks"]):
                bin_ = c_in if b == 0 else out
                width = lambda e: divisible(bin_.max() * e, d)
                if "ops" in st:  # coupled ops: each op its own hidden width
                    mids, branches = [], []
                    for op in st["ops"]:
                        m = width(op["expansion"])
                        if m not in mids:
                            mids.append(m)
                        branches.append(dict(kernel=op["kernel"], se=op.get("se", False), mid=mids.index(m)))
                    mid = Options(mids, None)
                    labels = [op_label(op["kernel"], op["expansion"], op.get("se", False)) for op in st["ops"]]
                else:
                    mids = [width(e) for e in st["expansion"]]
                    mid = Options(mids, choose(f"stage{s}.block{b}.expansion", len(mids)))
                    branches = [dict(kernel=k, se=se, mid=None)
                                for k in st.get("kernel", [3]) for se in st.get("se", [False])]
                    labels = [op_label(br["kernel"], None, br["se"]) for br in branches]
                skip = st.get("skip_first", False) if b == 0 else st.get("skip", False)
                op = choose(f"stage{s}.block{b}.op", len(labels) + int(skip))
                stride = st["stride"] if b == 0 else 1
                boundary = len(strides)
                strides.append(stride)
                kernels.append(max(br["kernel"] for br in branches))
                self.blocks.append(dict(stage=s, index=b, stride=stride, act=st.get("act", "relu"),
                                        c_in=bin_, mid=mid, se_hidden=[se_hidden(m, d) for m in mids],
                                        c_out=out, branches=branches, skip=skip,
                                        skip_act=st.get("skip_act", "relu"), op=op, boundary=boundary))
            c_in = out
            self.stage_out.append(out)

        def walk(r):
            v = [r]
            for k, s in zip(kernels, strides):
                v.append((v[-1] + 2 * (k // 2) - k) // s + 1)
            return v

        self.full = walk(space["input_size"])
        per = [walk(r) for r in res]
        self.sizes = [[p[b] for p in per] for b in range(len(self.full))]
        hd = space["head"]
        self.head_op = hd["op"]
        self.head_c = c_in
        if self.head_op == "conv":
            self.head_mid = values("head.width", hd["out"])
        else:
            self.head_mid = Options([divisible(c * hd["expansion"], d) for c in c_in.values], c_in.choice)


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


def scalar(t):
    return t.reshape(1, 1, 1, 1)


class SuperBlock(nn.Module):
    """One searched block in branches mode (src/supernet/block.rs): one held block per op
    branch at the largest widths (a coupled op's at its own hidden width), the skip
    projection where skip may change the shape, the residual."""

    def __init__(self, p):
        super().__init__()
        self.p = p
        mids, cin, cout = p["mid"].values, p["c_in"].values, p["c_out"].values
        self.coupled = any(br["mid"] is not None for br in p["branches"])
        self.pw_present = [pw_fixed(m, cin) for m in mids]
        all_absent = all(x is False for x in self.pw_present)
        se_max = max(p["se_hidden"])

        def held(br):
            i = br["mid"]
            if i is not None:
                mid, se, pw = mids[i], p["se_hidden"][i], self.pw_present[i] is not False
            else:
                mid, se, pw = max(mids), se_max, not all_absent
            return IrBranch(max(cin), mid, max(cout), br["kernel"], p["stride"], se if br["se"] else 0,
                            p["act"], pw)

        self.branches = nn.ModuleList([held(br) for br in p["branches"]])
        mixed = len(mids) > 1 and p["mid"].choice is not None
        has_se = any(br["se"] for br in p["branches"])
        self.register_buffer("mid_prefix", prefix(mids) if mixed else None)
        self.register_buffer("se_prefix", prefix(p["se_hidden"]) if mixed and has_se else None)
        self.register_buffer("mid_values", torch.tensor(mids, dtype=torch.float))
        self.register_buffer("se_values", torch.tensor(p["se_hidden"], dtype=torch.float))
        self.register_buffer("pw_eq", eq_matrix(mids, cin))
        first_s1 = p["index"] == 0 and p["stride"] == 1
        self.register_buffer("res_eq", eq_matrix(cin, cout) if first_s1 else None)
        may_project = p["skip"] and (p["stride"] != 1 or not p["c_in"].same(p["c_out"]))
        self.proj = ConvBnAct(max(cin), max(cout), 1, p["stride"], act=p["skip_act"]) if may_project else None

    def pw_keep(self, i, g_mid, g_in):
        """P(the pw expansion is present) for coupled option i (or the weighted hidden width
        when i is None): a constant 1.0 / 0.0, or a tensor."""
        f = self.pw_present
        fixed = f[i] if i is not None else (f[0] if all(x == f[0] for x in f) else None)
        if fixed is not None:
            return 1.0 if fixed else 0.0
        if self.pw_eq is None:
            return 1.0
        eq = self.pw_eq[i] @ g_in if i is not None else g_mid @ self.pw_eq @ g_in
        return (1 - eq).reshape(1)

    def projection_weight(self, g, g_in, g_out):
        """P(skip) · P(the shape changes): the weight of the skip projection."""
        p = self.p
        if self.proj is None or p["op"] is None:
            return None
        g_skip = g[p["op"]][len(p["branches"])]
        if self.res_eq is not None and p["stride"] == 1:
            return g_skip * (1 - g_in @ self.res_eq @ g_out)
        return g_skip

    def weights(self, g, out_mask):
        p = self.p
        g_mid, g_in, g_out = gw(p["mid"], g), gw(p["c_in"], g), gw(p["c_out"], g)
        as_mask = lambda v: scalar(v) if torch.is_tensor(v) else None
        if self.coupled:
            masks = [dict(expand=None, se=None, out=out_mask, pw_keep=as_mask(self.pw_keep(br["mid"], None, g_in)))
                     for br in p["branches"]]
        else:
            m = dict(expand=mask(g_mid, self.mid_prefix) if self.mid_prefix is not None else None,
                     se=mask(g_mid, self.se_prefix) if self.se_prefix is not None else None,
                     out=out_mask, pw_keep=as_mask(self.pw_keep(None, g_mid, g_in)))
            masks = [m] * len(p["branches"])
        branch = [scalar(g[p["op"]][t]) for t in range(len(p["branches"]))] if p["op"] is not None else None
        if p["stride"] != 1:
            res = None
        elif p["index"] > 0:
            res = 1.0
        elif self.res_eq is None:
            res = None
        elif p["c_in"].same(p["c_out"]):
            res = 1.0
        else:
            res = scalar(g_in @ self.res_eq @ g_out)
        wp = self.projection_weight(g, g_in, g_out)
        return masks, branch, res, (None if wp is None else scalar(wp)), out_mask

    def forward(self, x, w):
        masks, branch, res, wp, out_mask = w
        outs = [b(x, m) for b, m in zip(self.branches, masks)]
        y = sum(o * gb for o, gb in zip(outs, branch)) if branch is not None else sum(outs)
        if wp is not None:
            y = y + self.proj(x) * (out_mask * wp if out_mask is not None else wp)
        if res is not None:
            y = y + fit(x, self.p["c_out"].max()) * res
        return y

    def cost(self, g, c_in, c_out, a_in, a_out):
        p = self.p
        g_in, g_out = gw(p["c_in"], g), gw(p["c_out"], g)
        if p["mid"].choice is not None:
            mid, se = g[p["mid"].choice] @ self.mid_values, g[p["mid"].choice] @ self.se_values
        else:
            mid, se = float(p["mid"].values[0]), float(p["se_hidden"][0])
        g_mid = gw(p["mid"], g)
        total = 0.0
        for t, br in enumerate(p["branches"]):
            i = br["mid"]
            if i is not None:
                m, s, pw = float(p["mid"].values[i]), float(p["se_hidden"][i]), self.pw_keep(i, None, g_in)
            else:
                m, s, pw = mid, se, self.pw_keep(None, g_mid, g_in)
            c = a_in * c_in * m * pw + br["kernel"] ** 2 * a_out * m + m * c_out * a_out
            if br["se"]:
                c = c + m * a_out + 2 * m * s
            total = total + (c * g[p["op"]][t] if p["op"] is not None else c)
        wp = self.projection_weight(g, g_in, g_out)
        if wp is not None:
            total = total + a_out * c_in * c_out * wp
        return total


class Supernet(nn.Module):
    def __init__(self, space):
        super().__init__()
        self.space = space
        self.plan = pl = Plan(space)
        st = space["stem"]
        self.stem = ConvBnAct(space.get("in_channels", 3), pl.stem_out.max(), st["kernel"], st["stride"],
                              bias=st.get("bias", True), act=st.get("act", "relu"))
        self.stem_prefix = prefix(pl.stem_out.values) if pl.stem_out.choice is not None else None
        self.blocks = nn.ModuleList([SuperBlock(b) for b in pl.blocks])
        hd = space["head"]
        hm = pl.head_mid
        c_max, m_max = pl.head_c.max(), hm.max()
        if pl.head_op == "conv":
            absent = [0.0] * len(hm.values)
        else:
            absent = [float(m == c) for m, c in zip(hm.values, pl.head_c.values)]
        self.head_pw = None if all(a == 1 for a in absent) else ConvBnAct(c_max, m_max, act=hd.get("act", "relu"))
        self.head_absent = torch.tensor(absent) if 0 < sum(absent) < len(absent) else None
        self.head_prefix = prefix(hm.values) if hm.choice is not None else None
        self.head_conv = nn.Conv2d(m_max, hd["out"], 1, bias=False) if pl.head_op == "ir_pool" else None
        self.head_act = act_fn(hd.get("act", "relu"))
        self.dropout = nn.Dropout(space.get("dropout", 0.0))
        features = hd["out"] if pl.head_op == "ir_pool" else m_max
        self.classifier = nn.Linear(features, space.get("num_classes", 1000))
        self.width_prefix = [prefix(o.values) if o.choice is not None else None for o in pl.stage_out]
        self.idx = [[torch.tensor([j * f // r for j in range(r)]) for r in rs] for f, rs in zip(pl.full, pl.sizes)]

    def stem_forward(self, x, g):
        h = self.stem(x)
        return h * mask(gw(self.plan.stem_out, g), self.stem_prefix) if self.stem_prefix is not None else h

    def head_features(self, x, g):
        if self.head_pw is None:
            return x
        g_last = gw(self.plan.head_mid, g)
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
            x = self.stem_forward(x, g)
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

            x = mix(x, 0, lambda t: self.stem_forward(t, g))
            for blk, w in zip(self.blocks, ws):
                x = mix(x, blk.p["boundary"], lambda t, blk=blk, w=w: blk(t, w))
            last = len(pl.full) - 1
            pooled = sum(self.head_features(gather(x, last, i), g).mean((2, 3), keepdim=True) * g_r[i] for i in range(m))
        z = self.head_act(self.head_conv(pooled)) if self.head_conv is not None else pooled
        return self.classifier(self.dropout(z.flatten(1)))

    def expected_flops(self, g):
        pl, sp = self.plan, self.space

        def area(b):
            if pl.resolution.choice is None:
                return float(pl.full[b] ** 2)
            h = g[pl.resolution.choice] @ torch.tensor(pl.sizes[b], dtype=torch.float)
            return h * h

        def expect(o):
            return g[o.choice] @ torch.tensor(o.values, dtype=torch.float) if o.choice is not None else float(o.values[0])

        st = sp["stem"]
        c_in = expect(pl.stem_out)
        total = st["kernel"] ** 2 * area(1) * sp.get("in_channels", 3) * c_in
        for blk in self.blocks:
            c_out = expect(pl.stage_out[blk.p["stage"]])
            total = total + blk.cost(g, c_in, c_out, area(blk.p["boundary"]), area(blk.p["boundary"] + 1))
            c_in = c_out
        hm = pl.head_mid
        mid = expect(hm)
        if self.head_absent is not None:
            pw = 1 - (g[hm.choice] * self.head_absent).sum()
        else:
            pw = float(self.head_pw is not None)
        classes, a = sp.get("num_classes", 1000), area(len(pl.full) - 1)
        total = total + a * c_in * mid * pw + mid * a
        if pl.head_op == "conv":
            return total + mid * classes
        out = sp["head"]["out"]
        return total + mid * out + out + out * classes


def read_safetensors(path):
    """name -> float32 tensor, from a SafeTensors file (u64 header length, JSON header, data)."""
    import struct
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] != "F32":
            raise SystemExit(f"{path}: {name} is {info['dtype']}, expected F32")
        a, b = info["data_offsets"]
        out[name] = torch.frombuffer(bytearray(data[a:b]), dtype=torch.float32).reshape(info["shape"])
    return out


# dmasking's module paths -> this module's: the same tree but for these names.
RENAMES = [(".gamma", ".weight"), (".beta", ".bias"), ("head.pw.", "head_pw."), ("head.conv.", "head_conv."),
           ("head.classifier.", "classifier."), (".se.reduce.", ".se_reduce."), (".se.expand.", ".se_expand.")]


def check(net, space, d, tol):
    """Load `dmasking bench --dump-reference DIR`'s weights into `net` and compare the logits
    of every case with dmasking's; exit 1 when any differs by more than `tol` of its
    case's largest logit."""
    ref = json.load(open(f"{d}/check.json"))
    ours = [(name, n) for name, n in net.plan.choices]
    theirs = [tuple(c) for c in ref["choices"]]
    if ours != theirs:
        raise SystemExit(f"the choices differ:\n  dmasking {theirs}\n  reference {ours}")
    state = net.state_dict()
    loaded = set()
    for name, t in read_safetensors(f"{d}/weights.safetensors").items():
        for a, b in RENAMES:
            name = name.replace(a, b)
        if name not in state:
            raise SystemExit(f"dmasking's tensor {name} {list(t.shape)} has no counterpart here")
        if t.dim() == 2 and t.shape != state[name].shape:
            t = t.t()  # burn's Linear holds [in, out]
        if t.shape != state[name].shape:
            raise SystemExit(f"{name}: dmasking {list(t.shape)}, reference {list(state[name].shape)}")
        state[name].copy_(t)
        loaded.add(name)
    missing = [k for k, _ in net.named_parameters() if k not in loaded]
    if missing:
        raise SystemExit(f"parameters dmasking did not write: {missing}")
    net.train()
    b, s = ref["batch_size"], space["input_size"]
    shape = (b, space.get("in_channels", 3), s, s)
    x = torch.sin(torch.arange(math.prod(shape), dtype=torch.float64) * 0.37).float().reshape(shape)
    worst = 0.0
    for case in ref["cases"]:
        g = [torch.tensor(w) for w in case["weights"]]
        want = torch.tensor(case["logits"])
        with torch.no_grad():
            got = net(x, g)
        err = float((got - want).abs().max() / want.abs().max().clamp_min(1e-6))
        worst = max(worst, err)
        print(f"{case['name']}: max |difference| {err:.2e} of the largest logit ({float(want.abs().max()):.3g})")
    if worst > tol:
        raise SystemExit(f"the reference's logits differ from dmasking's by {worst:.2e} > {tol:g}")
    print(f"the same network: {len(loaded)} tensors, {len(ref['cases'])} cases within {tol:g}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--space", required=True)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--compile", action="store_true",
                    help="run the supernet's forward through torch.compile (compiled in the warm-up steps)")
    ap.add_argument("--check", metavar="DIR",
                    help="compare with `dmasking bench --dump-reference DIR` on the same weights and exit")
    ap.add_argument("--check-tolerance", type=float, default=1e-4)
    a = ap.parse_args()
    if a.check:
        space = dict(json.load(open(a.space)), dropout=0.0)  # as dmasking's dump: dropout is random
        check(Supernet(space), space, a.check, a.check_tolerance)
        return
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
