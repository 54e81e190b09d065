//! Selection by one-shot score *(ours)*: the network a search ends with, chosen among
//! the argmax and samples of the learned distribution instead of the argmax alone.
//!
//! Candidates: the argmax of every choice and draws from softmax(α), each moved into the
//! band of the search's cost (the budget's in budget mode, else ±`budget_tolerance` around
//! the argmax's cost) by [`band::project`], distinct as networks. Each is scored as
//! [`oneshot::score`] scores: inherited weights, BN statistics
//! re-estimated on weight-split images, top-1 and mean cross-entropy on
//! architecture-split images (held out from the weight steps; never the test set). The
//! best score (`select_by`: top-1, or the negated loss) wins; ties go to the more
//! probable network.

use rand::{Rng, SeedableRng, rngs::StdRng};
use serde::{Deserialize, Serialize};

use super::loss::SearchCost;
use super::{SearchConfig, SelectBy, band, oneshot};
use crate::data::{ImageData, split};
use crate::error::Result;
use crate::eval::standard_error;
use crate::run::stream_seed;
use crate::supernet::{ArchLogits, Plan, Supernet};

/// One candidate of the selection.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Candidate {
    /// `argmax` or `sample`.
    pub source: String,
    /// Option index of every choice.
    pub picks: Vec<usize>,
    /// Exact FLOPs of the network.
    pub flops: u64,
    /// Σ ln p(pick) under softmax(α).
    pub log_prob: f64,
    /// One-shot top-1 on the held-out architecture-split images.
    pub top1: f64,
    /// One-shot mean cross-entropy on the same images (absent in selections written
    /// before it was recorded).
    #[serde(default)]
    pub loss: Option<f64>,
    /// Standard error of `top1` over the scored images ([`standard_error`]; absent in
    /// selections written before it was recorded).
    #[serde(default)]
    pub top1_se: Option<f64>,
    /// Standard error of the difference between the chosen candidate's top-1 and this
    /// one's, paired over the same images (0 for the chosen one): the noise the selection's
    /// margin over this candidate has to clear. Smaller than the two top-1s' own errors
    /// combined wherever the two networks err on the same images.
    #[serde(default)]
    pub paired_se_to_chosen: Option<f64>,
}

impl Candidate {
    /// The candidate's score under `by` (higher is better).
    pub fn score(&self, by: SelectBy) -> f64 {
        match by {
            SelectBy::Top1 => self.top1,
            SelectBy::Loss => -self.loss.unwrap_or(f64::INFINITY),
        }
    }
}

/// What [`select`] chose and everything it compared (written as `selection.json`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Selection {
    /// Index of the winner in `candidates`.
    pub chosen: usize,
    /// Target of the band the candidates were moved into (the search cost's raw unit:
    /// FLOPs for a FLOP search).
    pub band_flops: f64,
    /// Half-width of the band, as a fraction of `band_flops`.
    pub tolerance: f64,
    /// Weight-split images over which BN statistics were re-estimated.
    pub calibration_images: usize,
    /// Architecture-split images each candidate was scored on.
    pub validation_images: usize,
    /// The score that chose (top-1 in selections written before it was recorded).
    #[serde(default)]
    pub select_by: SelectBy,
    /// Every candidate, the argmax first.
    pub candidates: Vec<Candidate>,
}

impl Selection {
    /// The chosen network's picks.
    pub fn picks(&self) -> &[usize] {
        &self.candidates[self.chosen].picks
    }
}

/// Option index drawn from probabilities `p`.
pub fn draw<R: Rng>(rng: &mut R, p: &[f32]) -> usize {
    let u: f32 = rng.random_range(0.0..1.0);
    let mut acc = 0.0;
    for (i, &x) in p.iter().enumerate() {
        acc += x;
        if u < acc {
            return i;
        }
    }
    p.len() - 1
}

/// The images selection scores on, as indices into the search's own `n` training images
/// (after `--max-images`): the first `select_calibration_images` of the weight split for
/// BN re-estimation and the first `select_images` of the architecture split for top-1.
pub fn held_out_indices(n: usize, cfg: &SearchConfig) -> (Vec<usize>, Vec<usize>) {
    let (mut w_idx, mut a_idx) = split(n, cfg.weight_fraction, cfg.seed);
    w_idx.truncate(cfg.select_calibration_images);
    a_idx.truncate(cfg.select_images);
    (w_idx, a_idx)
}

/// Score `n` candidates (`first`, the argmax as [`final_picks`](super::final_picks) moves
/// it, then distinct samples that the projection brought into the band; fewer when the
/// distribution holds fewer distinct in-band networks) and choose the best.
pub fn select(
    net: &Supernet,
    logits: &ArchLogits,
    first: Vec<usize>,
    cfg: &SearchConfig,
    cost: &dyn SearchCost,
    n: usize,
    (calibration, validation): (&dyn ImageData, &dyn ImageData),
) -> Result<Selection> {
    let plan: &Plan = &net.plan;
    let probs = logits.probabilities();
    let first_flops = plan.flops_of(&first)?;
    let band = match band::budget_band(cfg, cost) {
        Some((target, _)) => target,
        None => cost.exact(plan, &first)?,
    };
    let log_prob = |picks: &[usize]| -> f64 {
        picks
            .iter()
            .zip(&probs)
            .map(|(&o, p)| (p[o].max(1e-12) as f64).ln())
            .sum()
    };
    let mut seen = std::collections::BTreeSet::from([plan.derive(&first)?.network_key()]);
    let mut picked: Vec<(&str, Vec<usize>, u64)> = vec![("argmax", first, first_flops)];
    let mut rng = StdRng::seed_from_u64(stream_seed(cfg.seed, cfg.epochs, 6));
    for _ in 0..100 * n {
        if picked.len() >= n {
            break;
        }
        let drawn: Vec<usize> = probs.iter().map(|p| draw(&mut rng, p)).collect();
        let picks = band::project(plan, cost, &drawn, &probs, band, cfg.budget_tolerance)?;
        let arch = plan.derive(&picks)?;
        let flops = arch.cost()?.flops;
        let off = cost.exact(plan, &picks)? / band - 1.0;
        if off.abs() <= cfg.budget_tolerance && seen.insert(arch.network_key()) {
            picked.push(("sample", picks, flops));
        }
    }
    let batch = cfg.batch_size.max(1);
    let mut candidates = Vec::with_capacity(picked.len());
    let mut correct = Vec::with_capacity(picked.len());
    for (source, picks, flops) in picked {
        let eval = oneshot::score(
            net,
            &picks,
            cfg.weight_step.bilateral(),
            calibration,
            batch,
            validation,
        )?;
        candidates.push(Candidate {
            source: source.into(),
            flops,
            log_prob: log_prob(&picks),
            top1: eval.top1,
            loss: Some(eval.loss),
            top1_se: Some(standard_error(&eval.correct)),
            paired_se_to_chosen: None,
            picks,
        });
        correct.push(eval.correct);
    }
    let chosen = (0..candidates.len())
        .max_by(|&a, &b| {
            let (a, b) = (&candidates[a], &candidates[b]);
            a.score(cfg.select_by)
                .total_cmp(&b.score(cfg.select_by))
                .then(a.log_prob.total_cmp(&b.log_prob))
        })
        .expect("the argmax is always a candidate");
    for (c, right) in candidates.iter_mut().zip(&correct) {
        let diff: Vec<f32> = correct[chosen]
            .iter()
            .zip(right)
            .map(|(a, b)| a - b)
            .collect();
        c.paired_se_to_chosen = Some(standard_error(&diff));
    }
    Ok(Selection {
        chosen,
        band_flops: band,
        tolerance: cfg.budget_tolerance,
        calibration_images: calibration.len(),
        validation_images: validation.len(),
        select_by: cfg.select_by,
        candidates,
    })
}
