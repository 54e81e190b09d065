"""FBNetV2 networks in PyTorch, named as facebookresearch/mobile-vision names its models'
parameters: the fixtures of tests/pretrained.rs, and the check of the zoo models.

    python3 benches/pytorch_fbnet.py ARCH.json OUT_DIR [--seed S] [--batch N]

builds the network of a dmasking architecture file (same semantics as dmasking's FixedNet,
module names as mobile-vision's `fbnet("FBNetV2_F1")`: backbone.stages.xif{stage}_{block}
with pw/dw/se/pwl, a new stage at the first block and at every stride-2 block, the head
block last, the classifier `head.conv`), draws random weights and BN statistics, and writes

    OUT_DIR/weights.pth   a checkpoint laid out as mobile-vision's published files:
                          {"state_dict": {"module.<key>": tensor}, "epoch": 0}
    OUT_DIR/input.f32     the network input [N, C, H, W] (float32 little-endian)
    OUT_DIR/logits.f32    the network's logits on it in eval mode [N, classes]
    OUT_DIR/keys.txt      the state dict's keys and shapes

The fixture in tests/fixtures/fbnet_small was made with
    python3 benches/pytorch_fbnet.py tests/fixtures/fbnet_small/arch.json tests/fixtures/fbnet_small
The zoo models are checked (PyTorch needed) by
    cargo test --release --test tests -- pretrained:: --ignored
which runs this script on zoo/fbnetv2_*.json.
"""

import argparse
import json
import os
from collections import OrderedDict

import torch
import torch.nn as nn

from pytorch_reference import divisible, se_hidden


def act(name):
    return {"hswish": nn.Hardswish(), "relu": nn.ReLU(), "none": nn.Identity()}[name]


class ConvBNRelu(nn.Module):
    """mobile-vision's ConvBNRelu: conv, bn (optional), relu (the activation)."""

    def __init__(self, cin, cout, k=1, stride=1, groups=1, bias=False, bn=True, a="relu"):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=bias)
        self.bn = nn.BatchNorm2d(cout) if bn else None
        self.relu = act(a)

    def forward(self, x):
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        return self.relu(x)


class SEModule(nn.Module):
    """x * hsigmoid(conv(act(conv(pool(x))))), keys se.0.conv.*, se.1.*."""

    def __init__(self, c, hidden, a):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.se = nn.Sequential(
            ConvBNRelu(c, hidden, bias=True, bn=False, a=a),
            nn.Conv2d(hidden, c, 1, bias=True),
            nn.Hardsigmoid(),
        )

    def forward(self, x):
        return x * self.se(self.avg_pool(x))


class IRFBlock(nn.Module):
    def __init__(self, cin, mid, cout, k, stride, se, a):
        super().__init__()
        self.pw = ConvBNRelu(cin, mid, a=a) if mid != cin else None
        self.dw = ConvBNRelu(mid, mid, k, stride, groups=mid, a=a)
        self.se = SEModule(mid, se, a) if se else None
        self.pwl = ConvBNRelu(mid, cout, a="none")
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        h = self.pw(x) if self.pw is not None else x
        h = self.dw(h)
        if self.se is not None:
            h = self.se(h)
        y = self.pwl(h)
        return y + x if self.residual else y


class Identity(nn.Module):
    """A skip: 1x1 conv + BN + act where the shape changes, else nothing."""

    def __init__(self, cin, cout, stride, a):
        super().__init__()
        change = cin != cout or stride != 1
        self.conv = ConvBNRelu(cin, cout, 1, stride, a=a) if change else None

    def forward(self, x):
        return self.conv(x) if self.conv is not None else x


class IRPoolBlock(nn.Module):
    """The head block: [pw] -> pool -> [pwl: 1x1 conv, no BN, act]."""

    def __init__(self, cin, mid, out, op, a):
        super().__init__()
        self.pw = ConvBNRelu(cin, mid, a=a) if op == "conv" or mid != cin else None
        self.dw = nn.AdaptiveAvgPool2d(1)
        self.pwl = ConvBNRelu(mid, out, bn=False, a=a) if op == "ir_pool" else None

    def forward(self, x):
        x = self.pw(x) if self.pw is not None else x
        x = self.dw(x)
        return self.pwl(x) if self.pwl is not None else x


class Backbone(nn.Module):
    def __init__(self, stages):
        super().__init__()
        self.stages = nn.Sequential(stages)

    def forward(self, x):
        return self.stages(x)


class Head(nn.Module):
    def __init__(self, features, classes):
        super().__init__()
        self.conv = nn.Conv2d(features, classes, 1)

    def forward(self, x):
        return self.conv(x).flatten(1)


class FBNet(nn.Module):
    def __init__(self, arch):
        super().__init__()
        d = arch.get("width_divisor", 8)
        s = arch["stem"]
        stages = OrderedDict()
        stages["xif0_0"] = ConvBNRelu(
            arch.get("in_channels", 3), s["out"], s["kernel"], s["stride"],
            bias=s.get("bias", True), a=s.get("act", "relu"),
        )
        c, stage, index = s["out"], 0, 0
        for i, b in enumerate(arch["blocks"]):
            if i == 0 or b["stride"] == 2:
                stage, index = stage + 1, 0
            a = b.get("act", "relu")
            if b["op"] == "skip":
                block = Identity(c, b["out"], b["stride"], a)
            else:
                mid = b.get("mid") or divisible(c * b["expansion"], d)
                se = se_hidden(mid, d) if b.get("se") else None
                block = IRFBlock(c, mid, b["out"], b["kernel"], b["stride"], se, a)
            stages[f"xif{stage}_{index}"] = block
            c, index = b["out"], index + 1
        h = arch["head"]
        mid = divisible(c * h["expansion"], d) if h["op"] == "ir_pool" else h["out"]
        stages[f"xif{stage + 1}_0"] = IRPoolBlock(c, mid, h["out"], h["op"], h.get("act", "relu"))
        features = h["out"] if h["op"] == "ir_pool" else mid
        self.backbone = Backbone(stages)
        self.head = Head(features, arch.get("num_classes", 1000))

    def forward(self, x):
        return self.head(self.backbone(x))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("arch")
    p.add_argument("out")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch", type=int, default=2)
    args = p.parse_args()
    arch = json.load(open(args.arch))
    torch.manual_seed(args.seed)
    net = FBNet(arch)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
            m.running_mean.uniform_(-0.3, 0.3)
            m.running_var.uniform_(0.5, 2.0)
    net.eval()
    size, cin = arch["input_size"], arch.get("in_channels", 3)
    x = torch.randn(args.batch, cin, size, size)
    with torch.no_grad():
        y = net(x)
    os.makedirs(args.out, exist_ok=True)
    sd = net.state_dict()
    torch.save(
        {"state_dict": OrderedDict(("module." + k, v) for k, v in sd.items()), "epoch": 0},
        os.path.join(args.out, "weights.pth"),
    )
    x.numpy().astype("<f4").tofile(os.path.join(args.out, "input.f32"))
    y.numpy().astype("<f4").tofile(os.path.join(args.out, "logits.f32"))
    with open(os.path.join(args.out, "keys.txt"), "w") as f:
        for k, v in sd.items():
            f.write(f"{k} {list(v.shape)}\n")


if __name__ == "__main__":
    main()
