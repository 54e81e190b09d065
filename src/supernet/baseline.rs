//! The baseline a user builds without search *(ours, after MobileNet and EfficientNet)*:
//! the space's largest network scaled to a FLOP budget, by one width multiplier or by a
//! smaller input.

use serde::{Deserialize, Serialize};

use super::extremes::EXTREME_LIMIT;
use super::plan::Plan;
use crate::arch::Arch;
use crate::error::{Error, Result};

/// How the largest network is brought to the budget.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ScaleBy {
    /// Every width times one factor (the factor found in steps of 0.005).
    Width,
    /// A smaller input (every size from the space's input size down to 8).
    Resolution,
}

crate::json::from_str_by_serde!(ScaleBy, "scaling");

/// A scaled baseline.
#[derive(Clone, Debug)]
pub struct Scaled {
    /// The network (it may lie outside the space: widths need not be the space's options).
    pub arch: Arch,
    /// The width factor (1 when scaled by resolution).
    pub factor: f64,
    /// Its exact FLOPs (our convention).
    pub flops: u64,
}

/// The space's largest network (by FLOPs) scaled `by` width or resolution to the FLOPs
/// closest to `target` (our convention). Whether it lands within a tolerance is the
/// caller's to say.
pub fn scaled_baseline(plan: &Plan, target: f64, by: ScaleBy) -> Result<Scaled> {
    if !(target.is_finite() && target > 0.0) {
        return Err(Error::Config(format!(
            "the target must be a positive number of FLOPs, got {target}"
        )));
    }
    let largest = plan.derive(&plan.extreme(true, EXTREME_LIMIT)?.picks)?;
    let mut best: Option<Scaled> = None;
    let mut consider = |arch: Arch, factor: f64| -> Result<()> {
        let flops = arch.cost()?.flops;
        let off = (flops as f64 - target).abs();
        if best
            .as_ref()
            .is_none_or(|b| off < (b.flops as f64 - target).abs())
        {
            best = Some(Scaled {
                arch,
                factor,
                flops,
            });
        }
        Ok(())
    };
    match by {
        ScaleBy::Width => {
            for i in 0..=400 {
                let f = (2000 - 5 * i) as f64 / 1000.0;
                consider(largest.with_widths_scaled(f)?, f)?;
            }
        }
        ScaleBy::Resolution => {
            for size in (8..=largest.input_size).rev() {
                consider(largest.with_input_size(size)?, 1.0)?;
            }
        }
    }
    let mut s = best.expect("at least one scaled network");
    let (name, detail) = match by {
        ScaleBy::Width => ("width", serde_json::json!(s.factor)),
        ScaleBy::Resolution => ("resolution", serde_json::json!(s.arch.input_size)),
    };
    s.arch.provenance = Some(serde_json::json!({
        "space": plan.space.name,
        "scaled": {"from": "the space's largest network", "by": name, "value": detail,
                   "target_flops": target, "exact_flops": s.flops},
    }));
    Ok(s)
}
