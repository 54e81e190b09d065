//! The budget loss *(ours)*: `L = CE + μ · (C / target − 1)²` pulls the expected cost
//! toward the target from either side; μ grows by dual ascent while the cost is outside
//! the band `target · (1 ± tolerance)`.

use burn::tensor::Tensor;

use super::{CostRange, SearchCost};
use crate::error::{Error, Result};
use crate::search::SearchConfig;

/// `CE + μ · (C / target − 1)²` with dual ascent on μ.
#[derive(Clone, Debug)]
pub struct Budget {
    /// The target (raw unit).
    pub target: f64,
    /// Half-width of the band, as a fraction of the target.
    pub tolerance: f64,
    /// The penalty weight μ (saved with every checkpoint).
    pub mu: f64,
    /// Dual-ascent step of μ, per architecture step, times |C/target − 1|.
    pub step: f64,
}

impl Budget {
    /// The form with `cfg`'s target and band, which must overlap the space's `range`
    /// ([`Error::BudgetOutOfRange`] otherwise).
    pub fn new(cfg: &SearchConfig, cost: &dyn SearchCost, range: CostRange) -> Result<Self> {
        let Some(target) = cost.budget(cfg) else {
            return Err(Error::Config(format!(
                "the budget loss needs a positive budget in {} ({})",
                cost.unit(),
                cost.budget_setting()
            )));
        };
        let tolerance = cfg.budget_tolerance;
        let (low, high) = (target * (1.0 - tolerance), target * (1.0 + tolerance));
        if high < range.min || low > range.max {
            return Err(Error::BudgetOutOfRange {
                budget: target / cost.scale(),
                tolerance,
                min: range.min / cost.scale(),
                max: range.max / cost.scale(),
                unit: cost.unit().to_string(),
            });
        }
        Ok(Budget {
            target,
            tolerance,
            mu: cfg.budget_mu,
            step: cfg.budget_step,
        })
    }

    /// The loss of cross-entropy `ce` and expected cost `cost` (raw unit); raises μ
    /// first when the cost is outside the band (one host read of the cost).
    pub fn forward(&mut self, ce: Tensor<1>, cost: Tensor<1>) -> Tensor<1> {
        let ratio = cost.clone().detach().into_scalar::<f32>() as f64 / self.target;
        if (ratio - 1.0).abs() > self.tolerance {
            self.mu += self.step * (ratio - 1.0).abs();
        }
        let dev = cost.div_scalar(self.target).sub_scalar(1.0);
        ce + dev.clone().mul(dev).mul_scalar(self.mu)
    }
}
