//! FBNet's loss: `L = CE · a · (ln C)^b`, C the expected cost in its loss unit.

use burn::tensor::Tensor;

use super::{CostRange, SearchCost};
use crate::error::{Error, Result};
use crate::search::SearchConfig;

/// `CE · a · (ln C)^b`; needs every architecture above one loss unit (ln C > 0).
#[derive(Clone, Debug)]
pub struct Fbnet {
    /// The factor a.
    pub a: f64,
    /// The exponent b.
    pub b: f64,
    /// Raw cost units per loss unit.
    scale: f64,
}

impl Fbnet {
    /// The form with `cfg`'s a and b, checked against the space's `range`.
    pub fn new(cfg: &SearchConfig, cost: &dyn SearchCost, range: CostRange) -> Result<Self> {
        let scale = cost.loss_scale();
        if range.min / scale <= 1.0 {
            return Err(Error::Config(format!(
                "loss mode fbnet needs every architecture above 1 {unit} (ln C > 0); this space goes down to {:.3} {unit}: use the additive or budget loss",
                range.min / scale,
                unit = cost.loss_unit()
            )));
        }
        Ok(Fbnet {
            a: cfg.fbnet_a,
            b: cfg.fbnet_b,
            scale,
        })
    }

    /// The loss of cross-entropy `ce` and expected cost `cost` (raw unit).
    pub fn forward(&self, ce: Tensor<1>, cost: Tensor<1>) -> Tensor<1> {
        ce * cost
            .div_scalar(self.scale)
            .log()
            .powf_scalar(self.b)
            .mul_scalar(self.a)
    }
}
