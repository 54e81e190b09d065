//! A space's extreme networks by FLOPs: the smallest and largest (exact, by search),
//! their range, and the exact cost of picks.

use super::plan::{ChoiceKind, Plan};
use crate::cost::{Convention, count_in};
use crate::error::Result;

/// Network-wide option combinations [`Plan::extreme`] enumerates by default (beyond it,
/// coordinate search).
pub const EXTREME_LIMIT: usize = 20_000;

impl crate::space::Space {
    /// The FLOPs (our convention) of the space's smallest and largest networks, as
    /// `flops --space` prints them ([`Plan::flops_range`]).
    pub fn flops_range(&self) -> Result<(u64, u64)> {
        Plan::new(self).flops_range()
    }
}

/// An architecture of the space and its exact FLOPs.
#[derive(Clone, Debug)]
pub struct Extreme {
    /// Exact FLOPs (our convention).
    pub flops: u64,
    /// The option of every choice that derives it.
    pub picks: Vec<usize>,
}

impl Plan {
    /// Exact FLOPs of the architecture `picks` describes.
    pub fn flops_of(&self, picks: &[usize]) -> Result<u64> {
        let arch = self.derive(picks)?;
        Ok(arch.cost()?.flops)
    }

    /// The FLOPs of the space's smallest and largest networks (what `flops --space`
    /// prints; [`extreme`](Self::extreme) with its default limit).
    pub fn flops_range(&self) -> Result<(u64, u64)> {
        Ok((
            self.extreme(false, EXTREME_LIMIT)?.flops,
            self.extreme(true, EXTREME_LIMIT)?.flops,
        ))
    }

    /// The smallest (`maximize == false`) or largest architecture by FLOPs
    /// ([`extreme_by`](Self::extreme_by) of [`flops_of`](Self::flops_of)).
    pub fn extreme(&self, maximize: bool, limit: usize) -> Result<Extreme> {
        let cost = |p: &[usize]| Ok(self.flops_of(p)? as f64);
        let (_, picks) = self.extreme_by(maximize, limit, &cost)?;
        Ok(Extreme {
            flops: self.flops_of(&picks)?,
            picks,
        })
    }

    /// The architecture with the smallest (`maximize == false`) or largest `cost`, for a
    /// cost that is a sum over blocks given the network-wide choices (FLOPs, a latency
    /// table's prediction). Network-wide choices (resolution, stem, stage and head widths)
    /// are enumerated when there are at most `limit` combinations, and given them each
    /// block's expansion × op options are searched jointly: exact. Beyond `limit`, widths
    /// are found by coordinate search from two corners. Returns the cost and the picks.
    pub fn extreme_by(
        &self,
        maximize: bool,
        limit: usize,
        cost: &dyn Fn(&[usize]) -> Result<f64>,
    ) -> Result<(f64, Vec<usize>)> {
        let global: Vec<usize> = (0..self.choices.len())
            .filter(|&c| {
                matches!(
                    self.choices[c].kind,
                    ChoiceKind::Resolution
                        | ChoiceKind::StemWidth
                        | ChoiceKind::Width { .. }
                        | ChoiceKind::HeadWidth
                )
            })
            .collect();
        let combos: usize = global
            .iter()
            .map(|&c| self.choices[c].options.len())
            .try_fold(1usize, |a, k| a.checked_mul(k))
            .unwrap_or(usize::MAX);
        let better = |a: f64, b: f64| if maximize { a > b } else { a < b };
        let mut best: Option<(f64, Vec<usize>)> = None;
        let consider = |picks: Vec<usize>, best: &mut Option<(f64, Vec<usize>)>| -> Result<()> {
            let picks = self.best_blocks(picks, maximize, cost)?;
            let c = cost(&picks)?;
            if best.as_ref().is_none_or(|b| better(c, b.0)) {
                *best = Some((c, picks));
            }
            Ok(())
        };
        if combos <= limit {
            let mut picks = vec![0; self.choices.len()];
            'outer: loop {
                consider(picks.clone(), &mut best)?;
                for &c in &global {
                    picks[c] += 1;
                    if picks[c] < self.choices[c].options.len() {
                        continue 'outer;
                    }
                    picks[c] = 0;
                }
                break;
            }
        } else {
            // Coordinate search over the network-wide choices from two corners.
            for start in [0usize, usize::MAX] {
                let mut picks: Vec<usize> = self
                    .choices
                    .iter()
                    .map(|c| start.min(c.options.len() - 1))
                    .collect();
                let mut current = cost(&self.best_blocks(picks.clone(), maximize, cost)?)?;
                loop {
                    let mut improved = false;
                    for &c in &global {
                        for o in 0..self.choices[c].options.len() {
                            let mut trial = picks.clone();
                            trial[c] = o;
                            let trial = self.best_blocks(trial, maximize, cost)?;
                            let f = cost(&trial)?;
                            if better(f, current) {
                                current = f;
                                picks = trial;
                                improved = true;
                            }
                        }
                    }
                    if !improved {
                        break;
                    }
                }
                consider(picks, &mut best)?;
            }
        }
        Ok(best.expect("at least one architecture"))
    }

    /// With the network-wide choices fixed, give every block its cheapest (or dearest)
    /// expansion × op pair by `cost`.
    fn best_blocks(
        &self,
        mut picks: Vec<usize>,
        maximize: bool,
        cost: &dyn Fn(&[usize]) -> Result<f64>,
    ) -> Result<Vec<usize>> {
        for b in &self.blocks {
            let exp: Vec<Option<usize>> = match b.mid.choice {
                Some(c) => (0..self.choices[c].options.len()).map(Some).collect(),
                None => vec![None],
            };
            let ops: Vec<Option<usize>> = match b.op_choice {
                Some(c) => (0..self.choices[c].options.len()).map(Some).collect(),
                None => vec![None],
            };
            let mut best: Option<(f64, Vec<usize>)> = None;
            for e in &exp {
                for o in &ops {
                    let mut trial = picks.clone();
                    if let (Some(c), Some(e)) = (b.mid.choice, e) {
                        trial[c] = *e;
                    }
                    if let (Some(c), Some(o)) = (b.op_choice, o) {
                        trial[c] = *o;
                    }
                    let f = cost(&trial)?;
                    let wins = best
                        .as_ref()
                        .is_none_or(|(bf, _)| if maximize { f > *bf } else { f < *bf });
                    if wins {
                        best = Some((f, trial));
                    }
                }
            }
            picks = best.expect("a block has an option").1;
        }
        Ok(picks)
    }

    /// Exact FLOPs and params of the architecture `picks` describes, in convention `cv`.
    pub fn cost_in(&self, picks: &[usize], cv: Convention) -> Result<crate::cost::Cost<u64>> {
        let arch = self.derive(picks)?;
        Ok(count_in(&arch.layout()?, arch.input_size, cv))
    }
}
