//! BCNet's right side (Su et al., "BCNet: Searching for Network Width with Bilaterally
//! Coupled Network", CVPR 2021): a path of width c uses the *last* c channels of every
//! layer instead of the first c. Built as the mirror of the supernet: every hidden channel
//! axis reversed (each layer's output channels, and the input channels of the layer that
//! reads them), the image channels and the class outputs left alone. Reversing the hidden
//! channels of a network consistently is a symmetry (same function at full width), and the
//! first c channels of the mirror are the last c of the original, so the mirror's
//! [`Supernet::forward_path`] and [`Supernet::inherit`] are the right side's path and
//! network with no change to either.
//!
//! The mirror's weights are the supernet's own tensors, flipped: on an autodiff device the
//! flips are recorded, so a loss on a mirrored path sends its gradients to the supernet's
//! parameters (same parameter ids). Its BN running statistics are copies (training-mode
//! updates on the mirror are dropped: one-shot scores re-estimate them per network). Only
//! the path forwards are meant for the mirror: the masked forward's prefix masks are not
//! mirrored.

use burn::module::{Param, RunningState};
use burn::nn::conv::Conv2d;
use burn::nn::{BatchNorm, Linear};
use burn::tensor::{Int, Tensor};

use super::{SuperBlock, Supernet};
use crate::nn::{ConvBnAct, Head, IrBlock, SqueezeExcite};

impl Supernet {
    /// The supernet with every hidden channel axis reversed: its paths are BCNet's right
    /// side of this supernet's (module docs). Mirroring twice gives back the same weights.
    pub fn mirrored(&self) -> Supernet {
        Supernet {
            stem: cba(&self.stem, false),
            blocks: self.blocks.iter().map(block).collect(),
            head: head(&self.head),
            ..self.clone()
        }
    }
}

fn block(b: &SuperBlock) -> SuperBlock {
    SuperBlock {
        branches: b.branches.iter().map(ir).collect(),
        proj: b.proj.as_ref().map(|p| cba(p, true)),
        ..b.clone()
    }
}

fn ir(b: &IrBlock) -> IrBlock {
    IrBlock {
        pw: b.pw.as_ref().map(|l| cba(l, true)),
        dw: cba(&b.dw, true),
        se: b.se.as_ref().map(|se| SqueezeExcite {
            reduce: conv(&se.reduce, true, true),
            expand: conv(&se.expand, true, true),
            act: se.act,
        }),
        pwl: cba(&b.pwl, true),
        residual: b.residual,
    }
}

fn head(h: &Head) -> Head {
    Head {
        pw: h.pw.as_ref().map(|l| cba(l, true)),
        conv: h.conv.as_ref().map(|c| conv(c, true, true)),
        classifier: Linear {
            // [d_in, d_out]: its inputs are hidden channels, its outputs the classes.
            weight: flip(&h.classifier.weight, &[0]),
            bias: h.classifier.bias.clone(),
        },
        ..h.clone()
    }
}

/// A conv → BN → act with its output channels reversed, and its input channels where
/// `flip_in` (not for the stem, which reads the image; a depthwise conv has one input
/// channel per filter).
fn cba(l: &ConvBnAct, flip_in: bool) -> ConvBnAct {
    ConvBnAct {
        conv: conv(&l.conv, true, flip_in),
        bn: bn(&l.bn),
        act: l.act,
    }
}

fn conv(c: &Conv2d, flip_out: bool, flip_in: bool) -> Conv2d {
    let depthwise = c.weight.dims()[1] == 1 && c.groups > 1;
    let axes: Vec<usize> = [(flip_out, 0), (flip_in && !depthwise, 1)]
        .into_iter()
        .filter_map(|(f, a)| f.then_some(a))
        .collect();
    Conv2d {
        weight: flip(&c.weight, &axes),
        bias: c
            .bias
            .as_ref()
            .map(|b| flip(b, if flip_out { &[0] } else { &[] })),
        ..c.clone()
    }
}

fn bn(b: &BatchNorm) -> BatchNorm {
    let state = |r: &RunningState<Tensor<1>>| RunningState::new(reverse(r.value(), 0));
    BatchNorm {
        gamma: flip(&b.gamma, &[0]),
        beta: flip(&b.beta, &[0]),
        running_mean: state(&b.running_mean),
        running_var: state(&b.running_var),
        ..b.clone()
    }
}

/// The parameter's tensor reversed along `axes`, under the same id (a recorded op on an
/// autodiff device: gradients reach the original).
fn flip<const D: usize>(p: &Param<Tensor<D>>, axes: &[usize]) -> Param<Tensor<D>> {
    let t = axes.iter().fold(p.val(), |t, &a| reverse(t, a));
    Param::initialized(p.id, t)
}

/// `t` reversed along `axis`, as a gather of the reversed indices rather than
/// `Tensor::flip`: on ndarray, flip returns a negative-stride view that a later op reads
/// in the wrong order (the mirror's logits then differ by up to 3e-2 from the
/// supernet's; the same flip copied through host data agrees to 3e-8). A gather writes
/// a fresh tensor on every backend.
fn reverse<const D: usize>(t: Tensor<D>, axis: usize) -> Tensor<D> {
    let n = t.dims()[axis] as i64;
    let last_first = Tensor::<1, Int>::arange(0..n, &t.device())
        .neg()
        .add_scalar(n - 1);
    t.select(axis, last_first)
}
