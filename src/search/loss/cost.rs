//! The cost a search trades accuracy against, behind one interface: its expected value
//! under architecture weights (differentiable; exact for one-hot weights), its exact value
//! for picks, its range over the space, its unit. FLOPs ([`Flops`]) implement it; the
//! loss forms, the projection into the budget band and the selection read only this.

use crate::error::Result;
use crate::search::SearchConfig;
use crate::supernet::{ArchWeights, Eff, Plan, Supernet};

/// The cost a search with `cfg` trades accuracy against over `plan`'s networks: the one
/// place a cost is registered (FLOPs, or latency with a latency table).
pub fn search_cost(cfg: &SearchConfig, plan: &Plan) -> Result<std::sync::Arc<dyn SearchCost>> {
    Ok(match &cfg.latency_table {
        Some(path) => std::sync::Arc::new(super::latency::Latency::new(path, plan)?),
        None => std::sync::Arc::new(Flops),
    })
}

/// The smallest and largest cost of a space's networks (raw unit).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CostRange {
    /// The smallest network's cost.
    pub min: f64,
    /// The largest network's cost.
    pub max: f64,
}

/// A cost of the searched networks.
pub trait SearchCost: Send + Sync {
    /// Its unit as people read it, e.g. `MFLOPs`.
    fn unit(&self) -> &'static str;
    /// Raw units per [`unit`](Self::unit) (1e6 for FLOPs read as MFLOPs).
    fn scale(&self) -> f64;
    /// The unit the loss reads (the fbnet form's logarithm must be positive in it).
    fn loss_unit(&self) -> &'static str {
        self.unit()
    }
    /// Raw units per loss unit.
    fn loss_scale(&self) -> f64 {
        self.scale()
    }
    /// The settings' budget target in raw units, when set and positive.
    fn budget(&self, cfg: &SearchConfig) -> Option<f64>;
    /// Where that budget is set (the settings field and its flag).
    fn budget_setting(&self) -> &'static str;
    /// The expected cost of the supernet's network under weights `g` (raw unit).
    fn expected(&self, net: &Supernet, g: &ArchWeights) -> Eff;
    /// The exact cost of the network `picks` describes (raw unit).
    fn exact(&self, plan: &Plan, picks: &[usize]) -> Result<f64>;
    /// The smallest and largest cost of the space (raw unit).
    fn range(&self, plan: &Plan) -> Result<CostRange>;
    /// What a derived architecture's provenance records of its cost beyond FLOPs (a
    /// latency cost: its prediction and the table it came from).
    fn describe(&self, plan: &Plan, picks: &[usize]) -> Result<Option<serde_json::Value>> {
        let _ = (plan, picks);
        Ok(None)
    }
}

/// FLOPs in our counting convention (docs/ALGORITHM.md, "Counting"), read in MFLOPs.
#[derive(Clone, Copy, Debug, Default)]
pub struct Flops;

impl Flops {
    /// The FLOP cost.
    pub fn new() -> Self {
        Flops
    }
}

impl SearchCost for Flops {
    fn unit(&self) -> &'static str {
        "MFLOPs"
    }
    fn scale(&self) -> f64 {
        1e6
    }
    fn budget(&self, cfg: &SearchConfig) -> Option<f64> {
        cfg.budget_mflops
            .filter(|b| *b > 0.0 && b.is_finite())
            .map(|b| b * 1e6)
    }
    fn budget_setting(&self) -> &'static str {
        "budget_mflops"
    }
    fn expected(&self, net: &Supernet, g: &ArchWeights) -> Eff {
        net.expected_cost(g).flops
    }
    fn exact(&self, plan: &Plan, picks: &[usize]) -> Result<f64> {
        Ok(plan.flops_of(picks)? as f64)
    }
    fn range(&self, plan: &Plan) -> Result<CostRange> {
        let (min, max) = plan.flops_range()?;
        Ok(CostRange {
            min: min as f64,
            max: max as f64,
        })
    }
}
