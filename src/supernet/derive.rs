//! Derivation: from one option per choice to a `dmasking-arch/1` architecture, and the
//! fixed network that inherits the supernet's weights, sliced to the chosen widths.

use burn::module::{Param, RunningState};
use burn::nn::conv::Conv2d;
use burn::nn::{BatchNorm, Linear, PaddingConfig2d};
use burn::tensor::Device;

use super::net::Supernet;
use super::plan::{Options, Plan};
use crate::arch::{ARCH_FORMAT, Arch, Block, BlockLayout, HeadOp};
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
            return Err(Error::Config(format!(
                "expected {} picks (one per choice), got {}",
                self.choices.len(),
                picks.len()
            )));
        }
        for (c, (&p, ch)) in picks.iter().zip(&self.choices).enumerate() {
            if p >= ch.options.len() {
                return Err(Error::Config(format!(
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
            .filter_map(|(b, t)| match t {
                Some(t) => {
                    let br = b.branches[t];
                    Some(Block::ir(
                        b.c_out.pick(picks),
                        b.stride,
                        br.kernel,
                        b.mid.values[b.mid_index(picks, t)],
                        br.se,
                        b.act,
                    ))
                }
                // A skip is left out, or written as the projection where the shape changes.
                None => b
                    .projects(picks)
                    .then(|| Block::skip(b.c_out.pick(picks), b.stride, b.skip_act)),
            })
            .collect();
        let arch = Arch {
            format: ARCH_FORMAT.into(),
            name: Some(format!("{}-derived", s.name.as_deref().unwrap_or("space"))),
            input_size: self.resolution.pick(picks),
            in_channels: s.in_channels,
            num_classes: s.num_classes,
            width_divisor: s.width_divisor,
            stem: s.stem.with_out(self.stem_out.pick(picks)),
            blocks,
            head: s.head.with_out(match s.head.op {
                HeadOp::Conv => self.head.mid.pick(picks),
                HeadOp::IrPool => self.head.out,
            }),
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
        net.stem = slice_cba(&self.stem, layout.stem_out, layout.in_channels);
        // The supernet module each derived block inherits from, in order.
        let kept = self
            .blocks
            .iter()
            .zip(self.plan.branch_picks(picks))
            .filter_map(|(b, t)| match t {
                Some(t) => Some(Ok(&b.branches[if b.superkernel { 0 } else { t }])),
                None if b.plan.projects(picks) => b.proj.as_ref().map(Err),
                None => None,
            });
        for ((src, dst), l) in kept.zip(net.blocks.iter_mut()).zip(&layout.blocks) {
            let (src, dst, l) = match (src, dst, l) {
                (Ok(src), FixedBlock::Ir(dst), BlockLayout::Ir(l)) => (src, dst, l),
                (Err(proj), FixedBlock::Projection(dst), BlockLayout::Skip { c_in, c_out, .. }) => {
                    *dst = slice_cba(proj, *c_out, *c_in);
                    continue;
                }
                _ => unreachable!("derived blocks follow the supernet's blocks"),
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
        net.head.pw = match (&self.head.pw, h.has_pw()) {
            (Some(pw), true) => Some(slice_cba(pw, h.mid, h.c_in)),
            _ => None,
        };
        net.head.conv = self
            .head
            .conv
            .as_ref()
            .map(|conv| slice_conv(conv, h.out, h.mid));
        let classifier = &self.head.classifier;
        net.head.classifier = Linear {
            weight: inherited(classifier.weight.val().narrow(0, 0, h.features())),
            bias: classifier.bias.as_ref().map(|b| inherited(b.val())),
        };
        Ok((arch, net))
    }
}
