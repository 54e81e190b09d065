//! Derivation: from one option per choice to a `dmasking-arch/1` architecture, and the
//! fixed network that inherits the supernet's weights, sliced to the chosen widths.

use burn::module::{Param, RunningState};
use burn::nn::conv::Conv2d;
use burn::nn::{BatchNorm, PaddingConfig2d};
use burn::tensor::Device;

use super::net::Supernet;
use super::plan::{Options, Plan};
use crate::arch::{ARCH_FORMAT, Arch, Block, BlockLayout};
use crate::error::{Error, Result};
use crate::nn::{ConvBnAct, FixedBlock, FixedNet, SqueezeExcite};

impl<T: Copy> Options<T> {
    /// The value picked by `picks` (one option index per choice).
    pub fn pick(&self, picks: &[usize]) -> T {
        self.values[self.choice.map_or(0, |c| picks[c])]
    }
}

impl Plan {
    pub(crate) fn check_picks(&self, picks: &[usize]) -> Result<()> {
        if picks.len() != self.choices.len() {
            return Err(Error::Other(format!(
                "expected {} picks (one per choice), got {}",
                self.choices.len(),
                picks.len()
            )));
        }
        for (c, (&p, ch)) in picks.iter().zip(&self.choices).enumerate() {
            if p >= ch.options.len() {
                return Err(Error::Other(format!(
                    "choice {c} ({}) has {} options, got pick {p}",
                    ch.name,
                    ch.options.len()
                )));
            }
        }
        Ok(())
    }

    /// The branch index of each block, `None` where the block is skipped.
    pub fn branch_picks(&self, picks: &[usize]) -> Vec<Option<usize>> {
        self.blocks
            .iter()
            .map(|b| {
                let t = b.op_choice.map_or(0, |c| picks[c]);
                (t < b.branches.len()).then_some(t)
            })
            .collect()
    }

    /// The architecture that one option per choice describes.
    pub fn derive(&self, picks: &[usize]) -> Result<Arch> {
        self.check_picks(picks)?;
        let s = &self.space;
        let blocks = self
            .blocks
            .iter()
            .zip(self.branch_picks(picks))
            .filter_map(|(b, t)| {
                let br = b.branches[t?];
                Some(Block::ir(
                    b.c_out.pick(picks),
                    b.stride,
                    br.kernel,
                    b.mid.pick(picks),
                    br.se,
                    b.act,
                ))
            })
            .collect();
        let arch = Arch {
            format: ARCH_FORMAT.into(),
            name: Some(format!("{}-derived", s.name.as_deref().unwrap_or("space"))),
            input_size: self.resolution.pick(picks),
            in_channels: s.in_channels,
            num_classes: s.num_classes,
            width_divisor: s.width_divisor,
            stem: s.stem.clone(),
            blocks,
            head: s.head.clone(),
            dropout: s.dropout,
            provenance: None,
        };
        arch.layout()?;
        Ok(arch)
    }
}

/// A new parameter holding inherited values: a leaf, with no graph back to the supernet
/// (so a supernet on an autodiff device can be sliced too).
fn inherited<const D: usize>(t: burn::tensor::Tensor<D>) -> Param<burn::tensor::Tensor<D>> {
    Param::from_tensor(t.detach())
}

fn slice_conv(conv: &Conv2d, out: usize, c_in: usize) -> Conv2d {
    let depthwise = conv.groups > 1;
    let w = conv.weight.val().narrow(0, 0, out);
    let w = if depthwise { w } else { w.narrow(1, 0, c_in) };
    Conv2d {
        weight: inherited(w),
        bias: conv
            .bias
            .as_ref()
            .map(|b| inherited(b.val().narrow(0, 0, out))),
        groups: if depthwise { out } else { conv.groups },
        ..conv.clone()
    }
}

/// The centred k × k window of a (depthwise) conv's kernel, padding k/2.
fn center_kernel(conv: Conv2d, k: usize) -> Conv2d {
    let big = conv.kernel_size[0];
    if big == k {
        return conv;
    }
    let lo = (big - k) / 2;
    let w = conv.weight.val().narrow(2, lo, k).narrow(3, lo, k);
    Conv2d {
        weight: inherited(w),
        kernel_size: [k, k],
        padding: PaddingConfig2d::Explicit(k / 2, k / 2, k / 2, k / 2),
        ..conv
    }
}

fn slice_bn(bn: &BatchNorm, c: usize) -> BatchNorm {
    BatchNorm {
        gamma: inherited(bn.gamma.val().narrow(0, 0, c)),
        beta: inherited(bn.beta.val().narrow(0, 0, c)),
        running_mean: RunningState::new(bn.running_mean.value().narrow(0, 0, c)),
        running_var: RunningState::new(bn.running_var.value().narrow(0, 0, c)),
        ..bn.clone()
    }
}

fn slice_cba(src: &ConvBnAct, out: usize, c_in: usize) -> ConvBnAct {
    ConvBnAct {
        conv: slice_conv(&src.conv, out, c_in),
        bn: slice_bn(&src.bn, out),
        act: src.act,
    }
}

impl Supernet {
    /// The derived architecture of `picks` and its fixed network with inherited weights
    /// (every tensor sliced to the chosen widths, BN statistics included).
    pub fn inherit(&self, picks: &[usize], device: &Device) -> Result<(Arch, FixedNet)> {
        let arch = self.plan.derive(picks)?;
        let layout = arch.layout()?;
        let mut net = FixedNet::from_layout(&layout, device);
        net.stem = self.stem.clone();
        let kept = self
            .blocks
            .iter()
            .zip(self.plan.branch_picks(picks))
            .filter_map(|(b, t)| t.map(|t| &b.branches[if b.superkernel { 0 } else { t }]));
        for ((src, dst), l) in kept.zip(net.blocks.iter_mut()).zip(&layout.blocks) {
            let (FixedBlock::Ir(dst), BlockLayout::Ir(l)) = (dst, l) else {
                unreachable!("derived blocks are ir blocks");
            };
            dst.pw = match (&src.pw, l.has_pw()) {
                (Some(pw), true) => Some(slice_cba(pw, l.mid, l.c_in)),
                _ => None,
            };
            let dw = slice_cba(&src.dw, l.mid, 1);
            dst.dw = ConvBnAct {
                conv: center_kernel(dw.conv, l.kernel),
                ..dw
            };
            dst.se = match (&src.se, l.se) {
                (Some(se), Some(s)) => Some(SqueezeExcite {
                    reduce: slice_conv(&se.reduce, s, l.mid),
                    expand: slice_conv(&se.expand, l.mid, s),
                    act: se.act,
                }),
                _ => None,
            };
            dst.pwl = slice_cba(&src.pwl, l.c_out, l.mid);
        }
        let h = &layout.head;
        net.head.pw = match (&self.head.pw, h.mid != h.c_in) {
            (Some(pw), true) => Some(slice_cba(pw, h.mid, h.c_in)),
            _ => None,
        };
        net.head.conv = slice_conv(&self.head.conv, h.out, h.mid);
        net.head.classifier = self.head.classifier.clone();
        Ok((arch, net))
    }
}
