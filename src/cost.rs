//! The one cost model. Each layer's FLOPs (multiply-accumulates) and parameter count is
//! written once, generic over the number type: `u64` gives the exact count of a concrete
//! architecture, the supernet's `Eff` gives the differentiable expected cost of a
//! supernet from its effective shapes (docs/ALGORITHM.md, "Expected cost"; the counting
//! convention of docs/ARCH_FORMAT.md).

use std::ops::{Add, Mul};

use crate::arch::{BlockLayout, HeadOp, Layout, conv_out};

/// What a count includes.
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Convention {
    /// Ours (docs/ARCH_FORMAT.md): multiply-accumulates of convs and linears plus one
    /// per pooled element; params = conv and linear weights (no BN, no biases). Budgets
    /// are in this convention.
    #[default]
    Ours,
    /// PyTorch counters' (NAS-Bench-Macro, thop): multiply-accumulates of convs and
    /// linears only; params = every learnable parameter, BN's γ and β and biases included.
    Torch,
}

crate::json::from_str_by_serde!(Convention, "convention");

impl Convention {
    /// Its name, as the command line and JSON outputs write it.
    pub fn name(self) -> &'static str {
        match self {
            Convention::Ours => "ours",
            Convention::Torch => "torch",
        }
    }

    /// Global average pool on C·area elements: C·area FLOPs in ours, nothing in torch.
    pub fn pool<T: Count>(self, c: T, area_in: T) -> Cost<T> {
        match self {
            Convention::Ours => pool(c, area_in),
            Convention::Torch => Cost::zero(),
        }
    }
    /// BN on C channels (or a bias of C): 2C (or C) params in torch, nothing in ours.
    pub fn extra_params<T: Count>(self, c: T, per_channel: u64) -> Cost<T> {
        match self {
            Convention::Ours => Cost::zero(),
            Convention::Torch => Cost {
                flops: T::zero(),
                params: c.times(per_channel),
            },
        }
    }
    /// conv → BN: the conv, and BN's γ, β in torch.
    pub fn conv_bn<T: Count>(self, k: u64, area_out: T, c_in: T, c_out: T) -> Cost<T> {
        conv(k, area_out, c_in, c_out.clone()) + self.extra_params(c_out, 2)
    }
}

/// A number the cost formulas can be evaluated in.
pub trait Count: Clone + Add<Output = Self> + Mul<Output = Self> {
    /// The additive identity, 0.
    fn zero() -> Self;
    /// The multiplicative identity, 1.
    fn one() -> Self;
    /// Multiply by a constant integer (a kernel area).
    fn times(self, k: u64) -> Self;
}

impl Count for u64 {
    fn zero() -> Self {
        0
    }
    fn one() -> Self {
        1
    }
    fn times(self, k: u64) -> Self {
        self * k
    }
}

/// FLOPs and parameters of a part of a network.
#[derive(Clone, Debug, PartialEq)]
pub struct Cost<T> {
    /// FLOPs (multiply-accumulates), in the convention counted.
    pub flops: T,
    /// Parameter count, in the convention counted.
    pub params: T,
}

impl<T: Count> Cost<T> {
    /// No FLOPs and no parameters.
    pub fn zero() -> Self {
        Cost {
            flops: T::zero(),
            params: T::zero(),
        }
    }
    /// Both counts times a weight (a branch probability).
    pub fn weighted(self, w: T) -> Self {
        Cost {
            flops: self.flops * w.clone(),
            params: self.params * w,
        }
    }
}

impl<T: Count> Add for Cost<T> {
    type Output = Self;
    fn add(self, o: Self) -> Self {
        Cost {
            flops: self.flops + o.flops,
            params: self.params + o.params,
        }
    }
}

/// Dense k×k conv: FLOPs = k² · (H_out·W_out) · C_in · C_out, params = k² · C_in · C_out.
pub fn conv<T: Count>(k: u64, area_out: T, c_in: T, c_out: T) -> Cost<T> {
    let params = (c_in * c_out).times(k * k);
    Cost {
        flops: params.clone() * area_out,
        params,
    }
}

/// Depthwise k×k conv on C channels: FLOPs = k² · (H_out·W_out) · C, params = k² · C.
pub fn depthwise<T: Count>(k: u64, area_out: T, c: T) -> Cost<T> {
    let params = c.times(k * k);
    Cost {
        flops: params.clone() * area_out,
        params,
    }
}

/// Linear layer (or 1×1 conv on a 1×1 map): FLOPs = params = C_in · C_out.
pub fn linear<T: Count>(c_in: T, c_out: T) -> Cost<T> {
    let w = c_in * c_out;
    Cost {
        flops: w.clone(),
        params: w,
    }
}

/// Global average pool: FLOPs = its input element count C · H · W; no parameters.
pub fn pool<T: Count>(c: T, area_in: T) -> Cost<T> {
    Cost {
        flops: c * area_in,
        params: T::zero(),
    }
}

/// Shapes of one inverted-residual block, concrete or effective.
pub struct IrShape<T> {
    /// Input channels.
    pub c_in: T,
    /// Hidden width (output of the pw expansion, channels of the dw conv).
    pub mid: T,
    /// Output channels.
    pub c_out: T,
    /// Squeeze-excitation hidden width, if the block has one.
    pub se: Option<T>,
    /// Depthwise kernel size.
    pub kernel: u64,
    /// Input map area H_in·W_in.
    pub area_in: T,
    /// Output map area H_out·W_out (after the dw stride).
    pub area_out: T,
    /// Weight of the pw expansion: 1 when present, 0 when absent (mid == in), or the
    /// probability that it is present.
    pub pw: T,
}

/// pw 1×1 (weighted by presence) + dw k×k + [SE: pool, mid→s, s→mid] + pwl 1×1, each
/// conv with its BN.
pub fn ir<T: Count>(s: IrShape<T>, cv: Convention) -> Cost<T> {
    let pw = cv
        .conv_bn(1, s.area_in, s.c_in, s.mid.clone())
        .weighted(s.pw);
    let dw =
        depthwise(s.kernel, s.area_out.clone(), s.mid.clone()) + cv.extra_params(s.mid.clone(), 2);
    let se = match s.se {
        Some(h) => {
            cv.pool(s.mid.clone(), s.area_out.clone())
                + linear(s.mid.clone(), h.clone())
                + linear(h.clone(), s.mid.clone())
                + cv.extra_params(h + s.mid.clone(), 1)
        }
        None => Cost::zero(),
    };
    let pwl = cv.conv_bn(1, s.area_out, s.mid, s.c_out);
    pw + dw + se + pwl
}

/// Widths of the head, concrete or effective.
pub struct HeadShape<T> {
    /// Head kind.
    pub op: HeadOp,
    /// Input channels.
    pub c_in: T,
    /// Width before the pool.
    pub mid: T,
    /// `ir_pool`'s post-pool width (unused by `conv`).
    pub out: T,
    /// Classifier outputs (number of classes).
    pub classes: T,
    /// Map area H·W at the head's input.
    pub area: T,
    /// Weight of the 1×1 conv before the pool: 1, 0 or the probability it is present.
    pub pw: T,
}

/// Head and classifier: [1×1 conv-BN to mid] → pool → [`ir_pool`: 1×1 to `out` → pool
/// (1×1)] → linear (with bias).
pub fn head<T: Count>(h: HeadShape<T>, cv: Convention) -> Cost<T> {
    let pre = cv
        .conv_bn(1, h.area.clone(), h.c_in, h.mid.clone())
        .weighted(h.pw)
        + cv.pool(h.mid.clone(), h.area);
    let (post, features) = match h.op {
        HeadOp::IrPool => (
            linear(h.mid, h.out.clone()) + cv.pool(h.out.clone(), T::one()),
            h.out,
        ),
        HeadOp::Conv => (Cost::zero(), h.mid),
    };
    pre + post + linear(features, h.classes.clone()) + cv.extra_params(h.classes, 1)
}

/// Exact FLOPs and params of a concrete architecture at input size `input`, in our
/// convention.
pub fn count(layout: &Layout, input: usize) -> Cost<u64> {
    count_in(layout, input, Convention::Ours)
}

/// Exact FLOPs and params of a concrete architecture at input size `input`.
pub fn count_in(layout: &Layout, input: usize, cv: Convention) -> Cost<u64> {
    let n = |x: usize| x as u64;
    let mut h = conv_out(input, layout.stem_kernel, layout.stem_stride);
    let mut total = cv.conv_bn(
        n(layout.stem_kernel),
        n(h * h),
        n(layout.in_channels),
        n(layout.stem_out),
    ) + cv.extra_params(n(layout.stem_out), u64::from(layout.stem_bias));
    for block in &layout.blocks {
        match block {
            BlockLayout::Ir(b) => {
                let h_out = conv_out(h, b.kernel, b.stride);
                total = total
                    + ir(
                        IrShape {
                            c_in: n(b.c_in),
                            mid: n(b.mid),
                            c_out: n(b.c_out),
                            se: b.se.map(n),
                            kernel: n(b.kernel),
                            area_in: n(h * h),
                            area_out: n(h_out * h_out),
                            pw: u64::from(b.has_pw()),
                        },
                        cv,
                    );
                h = h_out;
            }
            b @ BlockLayout::Skip {
                c_in,
                c_out,
                stride,
                ..
            } => {
                h = conv_out(h, 1, *stride);
                if b.is_projection() {
                    total = total + cv.conv_bn(1, n(h * h), n(*c_in), n(*c_out));
                }
            }
        }
    }
    let hd = &layout.head;
    total
        + head(
            HeadShape {
                op: hd.op,
                c_in: n(hd.c_in),
                mid: n(hd.mid),
                out: n(hd.out),
                classes: n(layout.num_classes),
                area: n(h * h),
                pw: u64::from(hd.has_pw()),
            },
            cv,
        )
}

impl crate::arch::Arch {
    /// FLOPs and params of the network (our convention; [`count`] of its layout).
    pub fn cost(&self) -> crate::error::Result<Cost<u64>> {
        Ok(count(&self.layout()?, self.input_size))
    }
}
