//! The additive loss: `L = CE + λ · C / C_uniform`, C_uniform the expected cost at uniform
//! architecture weights (so λ is free of the cost's unit).

use burn::tensor::Tensor;

use crate::search::SearchConfig;

/// `CE + λ · C / C_uniform`.
#[derive(Clone, Debug)]
pub struct Additive {
    /// λ.
    pub lambda: f64,
    /// C_uniform (raw unit).
    pub reference: f64,
}

impl Additive {
    /// The form with `cfg`'s λ and the space's expected cost at uniform weights.
    pub fn new(cfg: &SearchConfig, uniform: f64) -> Self {
        Additive {
            lambda: cfg.additive_lambda,
            reference: uniform,
        }
    }

    /// The loss of cross-entropy `ce` and expected cost `cost` (raw unit).
    pub fn forward(&self, ce: Tensor<1>, cost: Tensor<1>) -> Tensor<1> {
        ce + cost.div_scalar(self.reference).mul_scalar(self.lambda)
    }
}
