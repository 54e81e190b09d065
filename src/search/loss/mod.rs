//! The architecture loss *(one unit)*: the cross-entropy of an architecture step combined
//! with the expected cost of the sampled architecture, one file per form. Every form reads
//! its cost through [`SearchCost`] (FLOPs in cost.rs, or latency from a table in
//! latency.rs), in the cost's loss unit, so a new cost is one file and one registration,
//! not a change to every form.
//!
//! | form | file | loss |
//! |---|---|---|
//! | [`Fbnet`] | `fbnet.rs` | `CE · a · (ln C)^b` |
//! | [`Additive`] | `additive.rs` | `CE + λ · C / C_uniform` |
//! | [`Budget`] | `budget.rs` | `CE + μ · (C / target − 1)²`, μ raised by dual ascent |

pub mod additive;
pub mod budget;
pub mod cost;
pub mod fbnet;
pub mod latency;

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

pub use additive::Additive;
pub use budget::Budget;
pub use cost::{CostRange, Flops, SearchCost, search_cost};
pub use fbnet::Fbnet;
pub use latency::Latency;

use super::SearchConfig;
use crate::error::Result;

/// The form of the architecture loss (`loss` in the settings, `--loss` on the command
/// line).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LossMode {
    /// `CE · a · (ln C)^b` (FBNet), C in the cost's loss unit (MFLOPs).
    Fbnet,
    /// `CE + lambda · C / C_ref`, C_ref = the expected cost at uniform weights.
    Additive,
    /// `CE + mu · (C / target − 1)²`, mu raised by dual ascent while C is outside the band.
    Budget,
}
crate::json::from_str_by_serde!(LossMode, "loss mode");

/// The architecture loss of a search, with its state (the budget form's μ).
#[derive(Clone, Debug)]
pub enum ArchLoss {
    /// See [`Fbnet`].
    Fbnet(Fbnet),
    /// See [`Additive`].
    Additive(Additive),
    /// See [`Budget`].
    Budget(Budget),
}

impl ArchLoss {
    /// The loss `cfg` asks for, checked against the space's cost `range` (in the cost's
    /// raw unit); `uniform` is the expected cost at uniform architecture weights.
    pub fn new(
        cfg: &SearchConfig,
        cost: &dyn SearchCost,
        range: CostRange,
        uniform: f64,
    ) -> Result<Self> {
        Ok(match cfg.loss {
            LossMode::Fbnet => ArchLoss::Fbnet(Fbnet::new(cfg, cost, range)?),
            LossMode::Additive => ArchLoss::Additive(Additive::new(cfg, uniform)),
            LossMode::Budget => ArchLoss::Budget(Budget::new(cfg, cost, range)?),
        })
    }

    /// The loss of an architecture step: cross-entropy `ce` and the expected cost `cost`
    /// (shape `[1]`, in the cost's loss unit), both on the autodiff device.
    pub fn forward(&mut self, ce: Tensor<1>, cost: Tensor<1>) -> Tensor<1> {
        match self {
            ArchLoss::Fbnet(l) => l.forward(ce, cost),
            ArchLoss::Additive(l) => l.forward(ce, cost),
            ArchLoss::Budget(l) => l.forward(ce, cost),
        }
    }

    /// The budget form's penalty weight μ (what a checkpoint saves); the other forms
    /// have none.
    pub fn mu(&self) -> Option<f64> {
        match self {
            ArchLoss::Budget(l) => Some(l.mu),
            _ => None,
        }
    }

    /// Restore μ from a checkpoint (the budget form; ignored by the others).
    pub fn set_mu(&mut self, mu: f64) {
        if let ArchLoss::Budget(l) = self {
            l.mu = mu;
        }
    }
}
