//! Random networks of a space: uniform picks, the uniform mean of FLOPs, and distinct
//! networks matched to a FLOP band (the baseline of a search, `dmasking random`).

use rand::{Rng, SeedableRng, rngs::StdRng};

use super::plan::Plan;
use crate::cost::Convention;
use crate::error::Result;

impl Plan {
    /// Uniformly random option indices.
    pub fn random_picks<R: Rng>(&self, rng: &mut R) -> Vec<usize> {
        self.choices
            .iter()
            .map(|c| rng.random_range(0..c.options.len()))
            .collect()
    }

    /// Mean exact FLOPs of `n` architectures drawn uniformly (seeded).
    pub fn uniform_mean_flops(&self, n: usize, seed: u64) -> Result<f64> {
        self.uniform_mean_flops_in(n, seed, Convention::Ours)
    }

    /// Mean exact FLOPs in convention `cv` of `n` architectures drawn uniformly (seeded).
    pub fn uniform_mean_flops_in(&self, n: usize, seed: u64, cv: Convention) -> Result<f64> {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut sum = 0.0;
        for _ in 0..n {
            sum += self.cost_in(&self.random_picks(&mut rng), cv)?.flops as f64;
        }
        Ok(sum / n as f64)
    }
}

/// A random architecture found by [`Plan::random_matched`].
#[derive(Clone, Debug)]
pub struct RandomArch {
    /// The derived architecture.
    pub arch: crate::arch::Arch,
    /// Exact FLOPs.
    pub flops: u64,
    /// The matched cost (exact FLOPs for [`Plan::random_matched`], the given cost's value
    /// for [`Plan::random_matched_by`]).
    pub cost: f64,
    /// `"uniform"` or `"walk"`.
    pub method: &'static str,
    /// The option of every choice that derives it.
    pub picks: Vec<usize>,
}

impl Plan {
    /// `count` distinct random architectures within `target · (1 ± tolerance)` FLOPs, each
    /// with how it was found: `"uniform"`, a uniform draw that landed in the band
    /// (rejection sampling, `max_draws` at most), or, where too few land there (the ends
    /// of the range), `"walk"`: from a uniform draw, random one-choice changes that never
    /// move away from the band, then [`WALK_MIX`] random changes that stay inside it.
    pub fn random_matched(
        &self,
        count: usize,
        target: f64,
        tolerance: f64,
        seed: u64,
        max_draws: usize,
    ) -> Result<Vec<RandomArch>> {
        let flops = |p: &[usize]| Ok(self.flops_of(p)? as f64);
        let what = format!("{:.3} MFLOPs", target / 1e6);
        self.random_matched_by(count, target, tolerance, seed, max_draws, &flops, &what)
    }

    /// [`random_matched`](Self::random_matched) for any cost of a network's picks (a
    /// latency table's prediction): `count` distinct architectures within
    /// `target · (1 ± tolerance)` of `cost`; `what` names the target in errors.
    #[allow(clippy::too_many_arguments)]
    pub fn random_matched_by(
        &self,
        count: usize,
        target: f64,
        tolerance: f64,
        seed: u64,
        max_draws: usize,
        cost: &dyn Fn(&[usize]) -> Result<f64>,
        what: &str,
    ) -> Result<Vec<RandomArch>> {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut found = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        let in_band = |c: f64| (c / target - 1.0).abs() <= tolerance;
        // Keep `picks` when its network is in the band and new.
        let mut offer =
            |picks: Vec<usize>, method: &'static str, found: &mut Vec<RandomArch>| -> Result<()> {
                let value = cost(&picks)?;
                if in_band(value) {
                    let arch = self.derive(&picks)?;
                    if seen.insert(arch.network_key()) {
                        found.push(RandomArch {
                            flops: arch.cost()?.flops,
                            arch,
                            cost: value,
                            method,
                            picks,
                        });
                    }
                }
                Ok(())
            };
        for _ in 0..max_draws {
            if found.len() == count {
                break;
            }
            offer(self.random_picks(&mut rng), "uniform", &mut found)?;
        }
        for _ in 0..count * 50 {
            if found.len() == count {
                break;
            }
            if let Some(picks) = self.walk_into_band(&mut rng, target, tolerance, cost)? {
                offer(picks, "walk", &mut found)?;
            }
        }
        if found.len() < count {
            return Err(crate::error::Error::Config(format!(
                "found {} of {count} distinct architectures within {:.0}% of {what} (uniform draws and random walks); widen the tolerance or pick a target inside the space's range",
                found.len(),
                tolerance * 100.0,
            )));
        }
        Ok(found)
    }

    /// A random walk into the band (see [`random_matched`](Self::random_matched)), or
    /// `None` when it does not get there in 20,000 proposals.
    fn walk_into_band<R: Rng>(
        &self,
        rng: &mut R,
        target: f64,
        tolerance: f64,
        cost: &dyn Fn(&[usize]) -> Result<f64>,
    ) -> Result<Option<Vec<usize>>> {
        let gap = |c: f64| ((c / target - 1.0).abs() - tolerance).max(0.0);
        let mut picks = self.random_picks(rng);
        let mut d = gap(cost(&picks)?);
        let mut mixed = 0;
        for _ in 0..20_000 {
            if d == 0.0 && mixed >= WALK_MIX {
                return Ok(Some(picks));
            }
            let c = rng.random_range(0..self.choices.len());
            let o = rng.random_range(0..self.choices[c].options.len());
            let old = std::mem::replace(&mut picks[c], o);
            let nd = gap(cost(&picks)?);
            if nd <= d {
                d = nd;
                if d == 0.0 {
                    mixed += 1;
                }
            } else {
                picks[c] = old;
            }
        }
        Ok(None)
    }
}

/// Random changes a walk makes inside the band before its architecture is taken.
pub const WALK_MIX: usize = 200;
