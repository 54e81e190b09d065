//! The one cost model. Each layer's FLOPs (multiply-accumulates) and parameter count is
//! written once, generic over the number type: `u64` gives the exact count of a concrete
//! architecture, [`crate::supernet::Eff`] gives the differentiable expected cost of a
//! supernet from its effective shapes (docs/ALGORITHM.md, "Expected cost"; the counting
//! convention of docs/ARCH_FORMAT.md).

use std::ops::{Add, Mul};

use crate::arch::{BlockLayout, Layout, conv_out};

/// A number the cost formulas can be evaluated in.
pub trait Count: Clone + Add<Output = Self> + Mul<Output = Self> {
    fn zero() -> Self;
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
    pub flops: T,
    pub params: T,
}

impl<T: Count> Cost<T> {
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
    pub c_in: T,
    pub mid: T,
    pub c_out: T,
    /// Squeeze-excitation hidden width, if the block has one.
    pub se: Option<T>,
    pub kernel: u64,
    pub area_in: T,
    pub area_out: T,
    /// Weight of the pw expansion: 1 when present, 0 when absent (mid == in), or the
    /// probability that it is present.
    pub pw: T,
}

/// pw 1×1 (weighted by presence) + dw k×k + [SE: pool, mid→s, s→mid] + pwl 1×1.
pub fn ir<T: Count>(s: IrShape<T>) -> Cost<T> {
    let pw = conv(1, s.area_in, s.c_in, s.mid.clone()).weighted(s.pw);
    let dw = depthwise(s.kernel, s.area_out.clone(), s.mid.clone());
    let se = match s.se {
        Some(h) => {
            pool(s.mid.clone(), s.area_out.clone())
                + linear(s.mid.clone(), h.clone())
                + linear(h, s.mid.clone())
        }
        None => Cost::zero(),
    };
    let pwl = conv(1, s.area_out, s.mid, s.c_out);
    pw + dw + se + pwl
}

/// Head `ir_pool` and classifier: [1×1 expand] → pool → 1×1 to `out` → pool(1×1) → linear.
pub fn head<T: Count>(c_in: T, mid: T, out: T, classes: T, area: T, pw: T) -> Cost<T> {
    conv(1, area.clone(), c_in, mid.clone()).weighted(pw)
        + pool(mid.clone(), area)
        + linear(mid, out.clone())
        + pool(out.clone(), T::one())
        + linear(out, classes)
}

/// Exact FLOPs and params of a concrete architecture at input size `input`.
pub fn count(layout: &Layout, input: usize) -> Cost<u64> {
    let n = |x: usize| x as u64;
    let mut h = conv_out(input, layout.stem_kernel, layout.stem_stride);
    let mut total = conv(
        n(layout.stem_kernel),
        n(h * h),
        n(layout.in_channels),
        n(layout.stem_out),
    );
    for block in &layout.blocks {
        match block {
            BlockLayout::Ir(b) => {
                let h_out = conv_out(h, b.kernel, b.stride);
                total = total
                    + ir(IrShape {
                        c_in: n(b.c_in),
                        mid: n(b.mid),
                        c_out: n(b.c_out),
                        se: b.se.map(n),
                        kernel: n(b.kernel),
                        area_in: n(h * h),
                        area_out: n(h_out * h_out),
                        pw: u64::from(b.has_pw()),
                    });
                h = h_out;
            }
            b @ BlockLayout::Skip {
                c_in,
                c_out,
                stride,
            } => {
                h = conv_out(h, 1, *stride);
                if b.is_projection() {
                    total = total + conv(1, n(h * h), n(*c_in), n(*c_out));
                }
            }
        }
    }
    let hd = &layout.head;
    total
        + head(
            n(hd.c_in),
            n(hd.mid),
            n(hd.out),
            n(layout.num_classes),
            n(h * h),
            u64::from(hd.mid != hd.c_in),
        )
}
