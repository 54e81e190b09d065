//! The inverted-residual block (`pw 1×1 → dw k×k → [SE] → pwl 1×1 → [+x]`), stated once.
//! The fixed network calls it plainly; the supernet calls it with masks.

use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Device, Tensor};

use super::act::Act;
use super::conv_bn::{ConvBnAct, ConvBnActConfig};
use super::se::{SqueezeExcite, SqueezeExciteConfig};
use crate::arch::IrLayout;

/// Configuration of an [`IrBlock`].
#[derive(Config, Debug)]
pub struct IrBlockConfig {
    /// Input channels.
    pub c_in: usize,
    /// Hidden width (output of the pw expansion, channels of the dw conv).
    pub mid: usize,
    /// Output channels.
    pub c_out: usize,
    /// Depthwise kernel size (odd).
    pub kernel: usize,
    /// Stride of the depthwise conv.
    pub stride: usize,
    /// Squeeze-excitation hidden width.
    #[config(default = "None")]
    pub se: Option<usize>,
    /// Activation of pw, dw and SE.
    pub act: Act,
    /// Build the pw expansion (a fixed block omits it when mid == in).
    pub pw: bool,
    /// Add the identity residual (fixed blocks with stride 1 and in == out).
    pub residual: bool,
}

/// The masks of a searched block: soft channel masks [1, C, 1, 1] and, where the pw
/// expansion may be absent (mid == in), the probability `pw_keep` that it is present.
/// A superkernel block also gets a kernel mask [1, 1, k, k] for the dw weights (the
/// expected kernel-size mask) and the probability `se_keep` that SE is present.
#[derive(Clone, Debug, Default)]
pub struct IrMasks {
    /// Hidden-width channel mask [1, mid, 1, 1], applied after pw and after dw.
    pub expand: Option<Tensor<4>>,
    /// SE hidden-width channel mask [1, hidden, 1, 1].
    pub se: Option<Tensor<4>>,
    /// Output channel mask [1, c_out, 1, 1] (the stage's), applied after the pwl BN.
    pub out: Option<Tensor<4>>,
    /// Probability [1, 1, 1, 1] that the pw expansion is present.
    pub pw_keep: Option<Tensor<4>>,
    /// Superkernel: kernel mask [1, 1, k, k] multiplied into the dw weights.
    pub kernel: Option<Tensor<4>>,
    /// Superkernel: probability [1, 1, 1, 1] that SE is present.
    pub se_keep: Option<Tensor<4>>,
}

/// Inverted residual block.
#[derive(Module, Debug)]
pub struct IrBlock {
    /// pw: 1×1 expansion conv → BN → act (absent when not built, e.g. mid == in).
    pub pw: Option<ConvBnAct>,
    /// dw: k×k depthwise conv → BN → act, with the block's stride.
    pub dw: ConvBnAct,
    /// Squeeze-excitation on the dw output, if any.
    pub se: Option<SqueezeExcite>,
    /// pwl: 1×1 projection conv → BN, no activation.
    pub pwl: ConvBnAct,
    /// Add the input to the output (identity residual).
    #[module(skip)]
    pub residual: bool,
}

impl IrBlockConfig {
    /// Build the block on `device` (the pwl BN scale starts at 0 when `residual`).
    pub fn init(&self, device: &Device) -> IrBlock {
        IrBlock {
            pw: self.pw.then(|| {
                ConvBnActConfig::new(self.c_in, self.mid)
                    .with_act(Some(self.act))
                    .init(device)
            }),
            dw: ConvBnActConfig::depthwise(self.mid, self.kernel, self.stride, self.act)
                .init(device),
            se: self
                .se
                .map(|hidden| SqueezeExciteConfig::new(self.mid, hidden, self.act).init(device)),
            pwl: ConvBnActConfig::new(self.mid, self.c_out)
                .with_zero_gamma(self.residual)
                .init(device),
            residual: self.residual,
        }
    }
}

/// Zero-pad or cut the channel dimension of `x` to `c`.
pub fn fit_channels(x: Tensor<4>, c: usize) -> Tensor<4> {
    let c_x = x.dims()[1];
    if c_x == c {
        x
    } else if c_x > c {
        x.narrow(1, 0, c)
    } else {
        crate::kernels::pad_channels(x, c)
    }
}

/// `keep · layer(x) + fit(x) · (1 − keep)`: a conv-BN-act layer (output channel mask `s`)
/// present with probability `keep` ([1, 1, 1, 1]), else the identity (zero-padded or cut
/// to the layer's channels). `keep` joins the layer's output scale, which the fused batch
/// norm applies for free, and the identity side is one pass ([`crate::kernels::add_scaled`]).
pub fn keep_or_identity(
    layer: &ConvBnAct,
    x: Tensor<4>,
    s: Option<&Tensor<4>>,
    keep: &Tensor<4>,
) -> Tensor<4> {
    let c = layer.bn.gamma.dims()[0];
    let scale = match s {
        Some(s) => s.clone() * keep.clone(),
        None => keep.clone().repeat_dim(1, c),
    };
    let h = layer.forward_masked(x.clone(), None, Some(&scale));
    crate::kernels::add_scaled(h, x, keep.clone().neg().add_scalar(1.0).reshape([1]))
}

impl IrBlock {
    /// The block without masks: `pw → dw → [SE] → pwl [+ x]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.forward_masked(x, None)
    }

    /// h = M_e·pw(x); h = M_e·dw(h; W ⊙ M_k); h = SE(h; M_s); y = M_o·pwl(h) [+ x].
    pub fn forward_masked(&self, x: Tensor<4>, masks: Option<&IrMasks>) -> Tensor<4> {
        let expand = masks.and_then(|m| m.expand.as_ref());
        let kernel = masks.and_then(|m| m.kernel.as_ref());
        // Each layer's output goes straight into the next conv where nothing else reads
        // it (`ConvBnAct::norm_act_into`): z is the depthwise conv's output, before its BN.
        let z = match (&self.pw, masks.and_then(|m| m.pw_keep.as_ref())) {
            (Some(pw), Some(keep)) => {
                let h = keep_or_identity(pw, x.clone(), expand, keep);
                self.dw.conv_masked(h, kernel)
            }
            (Some(pw), None) => {
                let z = pw.conv_masked(x.clone(), None);
                pw.norm_act_into(z, expand, &self.dw, kernel)
            }
            (None, _) => self.dw.conv_masked(x.clone(), kernel),
        };
        let z = match &self.se {
            Some(se) => {
                let h = self.dw.norm_act_scaled(z, expand);
                let hidden = masks.and_then(|m| m.se.as_ref());
                let h = match masks.and_then(|m| m.se_keep.as_ref()) {
                    // keep · h·gate + (1 − keep) · h = h · (keep · gate + 1 − keep): one
                    // multiply of the map, the mixing on the [N, C, 1, 1] gate.
                    Some(keep) => {
                        let gate = se.gate(h.clone(), hidden);
                        let f = (gate * keep.clone() - keep.clone()).add_scalar(1.0);
                        crate::kernels::plane_scale(h, f)
                    }
                    None => se.forward(h, hidden),
                };
                self.pwl.conv_masked(h, None)
            }
            None => self.dw.norm_act_into(z, expand, &self.pwl, None),
        };
        let y = self
            .pwl
            .norm_act_scaled(z, masks.and_then(|m| m.out.as_ref()));
        if self.residual { y + x } else { y }
    }

    /// The block cut to the derived block `b` (first channels of every layer, centre of
    /// the kernel): h = pw(x) [if b has it]; h = dw(h); h = SE(h); y = pwl(h) [+ x].
    pub fn forward_path(&self, x: Tensor<4>, b: &IrLayout) -> Tensor<4> {
        let h = match &self.pw {
            Some(pw) if b.has_pw() => pw.forward_sliced(x.clone(), b.mid, 1),
            _ => x.clone(),
        };
        let h = self.dw.forward_sliced(h, b.mid, b.kernel);
        let h = match (&self.se, b.se) {
            (Some(se), Some(hidden)) => se.forward_sliced(h, hidden),
            _ => h,
        };
        let y = self.pwl.forward_sliced(h, b.c_out, 1);
        if b.has_residual() { y + x } else { y }
    }
}
