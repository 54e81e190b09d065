//! The budget band *(ours)*: where a search's picks end. The argmax of every choice, moved
//! into the band `target · (1 ± tolerance)` of the search's cost by the cheapest changes in
//! log-probability when it falls outside; the selection's candidates are moved the same
//! way. Generic over the cost ([`SearchCost`]).

use super::SearchConfig;
use super::loss::{LossMode, SearchCost};
use crate::error::Result;
use crate::supernet::{ArchLogits, Plan};

/// The band `(target, tolerance)` a search's settings ask for (raw cost unit): the budget
/// loss's; `None` for the other losses.
pub fn budget_band(cfg: &SearchConfig, cost: &dyn SearchCost) -> Option<(f64, f64)> {
    match cfg.loss {
        LossMode::Budget => cost.budget(cfg).map(|t| (t, cfg.budget_tolerance)),
        _ => None,
    }
}

/// The picks a search ends with, and the argmax they start from: the argmax of every
/// choice; with a budget band, moved into it by [`project`].
pub fn final_picks(
    plan: &Plan,
    logits: &ArchLogits,
    cfg: &SearchConfig,
    cost: &dyn SearchCost,
) -> Result<(Vec<usize>, Vec<usize>)> {
    let argmax = logits.argmax();
    let picks = match budget_band(cfg, cost) {
        Some((target, tolerance)) => project(
            plan,
            cost,
            &argmax,
            &logits.probabilities(),
            target,
            tolerance,
        )?,
        None => argmax.clone(),
    };
    Ok((picks, argmax))
}

/// Bring `picks` inside the band `target · (1 ± tolerance)` of `cost` by the cheapest
/// changes: each step switches the one choice whose new option most reduces the distance
/// to the band per unit of log-probability given up (`probs` are the learned
/// softmax(α)). Returns the picks unchanged when already inside.
pub fn project(
    plan: &Plan,
    cost: &dyn SearchCost,
    picks: &[usize],
    probs: &[Vec<f32>],
    target: f64,
    tolerance: f64,
) -> Result<Vec<usize>> {
    let dist = |c: f64| ((c / target - 1.0).abs() - tolerance).max(0.0);
    let mut picks = picks.to_vec();
    let mut d = dist(cost.exact(plan, &picks)?);
    for _ in 0..10 * plan.choices.len().max(1) {
        if d == 0.0 {
            break;
        }
        let mut best: Option<(f64, usize, usize, f64)> = None;
        for (c, p) in probs.iter().enumerate() {
            for o in 0..p.len() {
                if o == picks[c] {
                    continue;
                }
                let mut trial = picks.clone();
                trial[c] = o;
                let d2 = dist(cost.exact(plan, &trial)?);
                if d2 >= d {
                    continue;
                }
                let lost = (p[picks[c]].max(1e-12).ln() - p[o].max(1e-12).ln()) as f64;
                let score = lost.max(1e-9) / (d - d2);
                if best.is_none_or(|b| score < b.0) {
                    best = Some((score, c, o, d2));
                }
            }
        }
        match best {
            Some((_, c, o, d2)) => {
                picks[c] = o;
                d = d2;
            }
            None => break,
        }
    }
    Ok(picks)
}
