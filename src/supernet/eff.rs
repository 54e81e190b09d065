//! Effective shapes: a width or size that is a constant or a differentiable expectation
//! `sum_i g_i v_i` over a choice's options, so the cost formulas of [`crate::cost`] give
//! the supernet's expected cost.

use std::ops::{Add, Mul};

use burn::tensor::Tensor;

use crate::cost::Count;

/// A constant, or a scalar tensor (shape `[1]`) that depends on architecture weights.
#[derive(Clone, Debug)]
pub enum Eff {
    /// A constant.
    Const(f64),
    /// A scalar tensor (shape `[1]`) that depends on architecture weights.
    Var(Tensor<1>),
}

impl Eff {
    /// `E[v] = g · v` for option weights `g` and option values `v` (a constant tensor).
    pub fn expect(g: &Tensor<1>, values: &Tensor<1>) -> Self {
        Eff::Var((g.clone() * values.clone()).sum())
    }

    /// The value as a tensor on `device`.
    pub fn into_tensor(self, device: &burn::tensor::Device) -> Tensor<1> {
        match self {
            Eff::Const(c) => Tensor::from_floats([c as f32], device),
            Eff::Var(t) => t,
        }
    }
}

impl Add for Eff {
    type Output = Eff;
    fn add(self, o: Eff) -> Eff {
        match (self, o) {
            (Eff::Const(a), Eff::Const(b)) => Eff::Const(a + b),
            (Eff::Const(a), Eff::Var(t)) | (Eff::Var(t), Eff::Const(a)) => {
                if a == 0.0 {
                    Eff::Var(t)
                } else {
                    Eff::Var(t.add_scalar(a))
                }
            }
            (Eff::Var(a), Eff::Var(b)) => Eff::Var(a + b),
        }
    }
}

impl Mul for Eff {
    type Output = Eff;
    fn mul(self, o: Eff) -> Eff {
        match (self, o) {
            (Eff::Const(a), Eff::Const(b)) => Eff::Const(a * b),
            (Eff::Const(a), Eff::Var(t)) | (Eff::Var(t), Eff::Const(a)) => {
                if a == 1.0 {
                    Eff::Var(t)
                } else {
                    Eff::Var(t.mul_scalar(a))
                }
            }
            (Eff::Var(a), Eff::Var(b)) => Eff::Var(a * b),
        }
    }
}

impl Count for Eff {
    fn zero() -> Self {
        Eff::Const(0.0)
    }
    fn one() -> Self {
        Eff::Const(1.0)
    }
    fn times(self, k: u64) -> Self {
        self * Eff::Const(k as f64)
    }
}
