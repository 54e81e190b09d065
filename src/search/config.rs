//! Search settings (defaults: docs/ALGORITHM.md, "The alternating loop").

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::run::RunDir;
use crate::space::Space;
use crate::supernet::OpSharing;

pub use super::loss::LossMode;

/// What a search run's `config.json` holds: the space and every search setting.
#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// The search space.
    pub space: Space,
    /// The search settings.
    pub search: SearchConfig,
}

impl RunConfig {
    /// The `config.json` of search run `run`, parsed and validated.
    pub fn read(run: &RunDir) -> Result<Self> {
        let (mut cfg, raw): (RunConfig, _) = run.read_config()?;
        // A run written before the selection existed ends as it began: with the argmax.
        if raw["search"].get("select_candidates").is_none() {
            cfg.search.select_candidates = 0;
        }
        cfg.space.validate()?;
        cfg.search.validate()?;
        Ok(cfg)
    }
}

/// What a weight step trains.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum WeightStep {
    /// The whole masked supernet under the sampled weights g (the paper).
    #[default]
    Masked,
    /// *(ours)* One path: a hard Gumbel sample (argmax of α + ε per choice) and only the
    /// network it picks, its weights cut from the supernet's; costs that network's FLOPs.
    /// Same weight gradients as the masked step under that one-hot sample.
    SinglePath,
    /// *(ours, after BigNAS)* The sandwich rule: the largest network, the smallest and one
    /// hard-sampled path, their gradients summed into one step (three paths' cost).
    Sandwich,
    /// *(ours, after BigNAS and OFA)* The sandwich rule with in-place distillation: the
    /// largest network learns from the labels, the smallest and the sampled path from the
    /// largest one's predictions (detached soft labels); three paths' cost.
    SandwichDistill,
    /// *(ours, after BCNet)* Bilateral channel sampling: one hard-sampled path, trained
    /// on the first channels of every layer (left) and on the last ones (right,
    /// [`Supernet::mirrored`](crate::supernet::Supernet::mirrored)), the mean of the two
    /// cross-entropies; under uniform widths every channel is then trained about equally
    /// often. Two paths' cost. One-shot scores of such a supernet average both sides.
    Bilateral,
}

impl WeightStep {
    /// A network's one-shot score is the mean of its left and right sides' (BCNet's
    /// evaluation), for supernets trained with [`WeightStep::Bilateral`].
    pub fn bilateral(self) -> bool {
        self == WeightStep::Bilateral
    }
}

crate::json::from_str_by_serde!(WeightStep, "weight step");

/// The one-shot score the selection ranks candidates by (higher is better).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum SelectBy {
    /// Top-1 on the held-out images.
    #[default]
    Top1,
    /// The negated mean cross-entropy on the held-out images: continuous, so it tells
    /// apart candidates whose top-1 differs by a few images.
    Loss,
}

crate::json::from_str_by_serde!(SelectBy, "selection score");

/// Every setting of a search run; written to the run directory. A settings file may
/// give any subset (the rest take their defaults); an unknown field is an error.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SearchConfig {
    /// Epochs over the weight split (warm-up included).
    pub epochs: usize,
    /// Images per weight or architecture step.
    pub batch_size: usize,
    /// Seed of every random stream (initialisation, splits, batches, Gumbel noise).
    pub seed: u64,
    /// Search a seeded subset of this many training images (all when absent): the CLI
    /// and `derive --select` cut the data with `ImageSet::train_subset(n, seed)`;
    /// `Searcher::run` searches the images it is given.
    pub max_images: Option<usize>,
    /// Fraction of the training set for weights; the rest trains the architecture.
    pub weight_fraction: f64,
    /// Epochs that train weights only.
    pub warmup_epochs: usize,
    /// After warm-up, one architecture step after every this many weight steps (1: strict
    /// alternation; weight split / architecture split, e.g. 4 for 80/20: one pass over
    /// the architecture split per epoch, FBNet's "one epoch each" at a finer grain).
    pub arch_every: usize,
    /// Peak learning rate of the weights (SGD, cosine schedule).
    pub weight_lr: f64,
    /// Momentum of the weights' SGD.
    pub weight_momentum: f64,
    /// L2 weight decay of the weights.
    pub weight_decay: f64,
    /// Learning rate of the architecture logits α (Adam).
    pub arch_lr: f64,
    /// Weight decay of the architecture logits.
    pub arch_weight_decay: f64,
    /// Gumbel-softmax temperature of the first epoch.
    pub temperature_start: f64,
    /// Per-epoch factor; ignored when `temperature_end` is set.
    pub temperature_decay: f64,
    /// Anneal exponentially from start to end over the run instead.
    pub temperature_end: Option<f64>,
    /// Straight-through hard Gumbel samples.
    pub hard: bool,
    /// One block per kernel × SE option (`branches`, the paper) or one shared
    /// superkernel block (`superkernel`, ours: faster, approximate for soft weights).
    pub op_sharing: OpSharing,
    /// The weight step: the masked supernet (the paper), one sampled path or the
    /// sandwich rule (ours).
    pub weight_step: WeightStep,
    /// Full-width warm-up (TuNAS): over the first this fraction of weight steps, a step
    /// trains the largest network with probability falling linearly from 1 to 0 (0: off).
    pub full_width_warmup: f64,
    /// The FLOP-aware loss of the architecture steps.
    pub loss: LossMode,
    /// a of the fbnet loss `CE · a · (ln MFLOPs)^b`.
    pub fbnet_a: f64,
    /// b of the fbnet loss.
    pub fbnet_b: f64,
    /// λ of the additive loss `CE + λ · C / C_uniform`.
    pub additive_lambda: f64,
    /// Target of the budget loss, in MFLOPs (our counting convention).
    pub budget_mflops: Option<f64>,
    /// Search latency instead of FLOPs *(ours)*: a latency table (`dmasking-latency/1`,
    /// docs/LATENCY.md) the cost is predicted from; every loss form, the budget band and
    /// the selection then read latency.
    pub latency_table: Option<std::path::PathBuf>,
    /// Target of the budget loss with a latency table, in ms.
    pub budget_ms: Option<f64>,
    /// Half-width of the budget band, as a fraction of the target (0.05: ±5 %).
    pub budget_tolerance: f64,
    /// Initial budget penalty weight μ.
    pub budget_mu: f64,
    /// Dual-ascent step of μ (per architecture step, times |C/target − 1|).
    pub budget_step: f64,
    /// Log a metrics line every this many steps (0: per epoch only).
    pub log_every: usize,
    /// *(ours)* Choose the derived network among this many candidates (the argmax and
    /// samples of softmax(α), each moved into the FLOP band) by one-shot top-1 on
    /// held-out architecture-split images (`search::select`); 0 or 1: the argmax alone
    /// (moved into the band in budget mode).
    pub select_candidates: usize,
    /// Architecture-split images each candidate is scored on.
    pub select_images: usize,
    /// Weight-split images over which each candidate's BN statistics are re-estimated.
    pub select_calibration_images: usize,
    /// The one-shot score candidates are ranked by.
    pub select_by: SelectBy,
    /// Also checkpoint mid-epoch every this many steps (0: not by steps).
    pub checkpoint_steps: usize,
    /// Also checkpoint mid-epoch once this many minutes have passed since the last
    /// checkpoint (0: not by time).
    pub checkpoint_minutes: f64,
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig {
            epochs: 5,
            batch_size: 64,
            seed: 0,
            max_images: None,
            weight_fraction: 0.8,
            warmup_epochs: 1,
            arch_every: 1,
            weight_lr: 0.05,
            weight_momentum: 0.9,
            weight_decay: 5e-4,
            arch_lr: 0.01,
            arch_weight_decay: 5e-4,
            temperature_start: 5.0,
            temperature_decay: 0.956,
            temperature_end: None,
            hard: false,
            op_sharing: OpSharing::Branches,
            weight_step: WeightStep::Masked,
            full_width_warmup: 0.0,
            loss: LossMode::Fbnet,
            fbnet_a: 0.2,
            fbnet_b: 0.6,
            additive_lambda: 1.0,
            budget_mflops: None,
            latency_table: None,
            budget_ms: None,
            budget_tolerance: 0.05,
            budget_mu: 1.0,
            budget_step: 0.5,
            log_every: 50,
            select_candidates: 16,
            select_images: 2000,
            select_calibration_images: 512,
            select_by: SelectBy::Top1,
            checkpoint_steps: 0,
            checkpoint_minutes: 30.0,
        }
    }
}

impl SearchConfig {
    /// Check every setting; the error names the first bad one.
    ///
    /// ```
    /// use dmasking::search::{LossMode, SearchConfig};
    ///
    /// assert!(SearchConfig::default().validate().is_ok());
    /// let no_target = SearchConfig { loss: LossMode::Budget, ..SearchConfig::default() };
    /// let err = no_target.validate().unwrap_err().to_string();
    /// assert!(err.contains("budget_mflops"), "{err}");
    /// ```
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        let positive = |x: f64| x > 0.0 && x.is_finite();
        if self.epochs == 0 || self.batch_size == 0 || self.arch_every == 0 {
            return bad("epochs, batch_size and arch_every must be positive".into());
        }
        if !(self.weight_fraction > 0.0 && self.weight_fraction < 1.0) {
            return bad(format!(
                "weight_fraction must lie strictly between 0 and 1, got {}",
                self.weight_fraction
            ));
        }
        if !(0.0..=1.0).contains(&self.full_width_warmup) {
            return bad(format!(
                "full_width_warmup must be a fraction in [0, 1], got {}",
                self.full_width_warmup
            ));
        }
        for (name, v) in [
            ("weight_lr", self.weight_lr),
            ("arch_lr", self.arch_lr),
            ("temperature_start", self.temperature_start),
            ("budget_tolerance", self.budget_tolerance),
        ] {
            if !positive(v) {
                return bad(format!("{name} must be positive, got {v}"));
            }
        }
        if !(self.checkpoint_minutes.is_finite() && self.checkpoint_minutes >= 0.0) {
            return bad(format!(
                "checkpoint_minutes must be a number >= 0, got {}",
                self.checkpoint_minutes
            ));
        }
        if let Some(end) = self.temperature_end
            && !positive(end)
        {
            return bad(format!("temperature_end must be positive, got {end}"));
        }
        let budget = |b: Option<f64>| b.is_some_and(positive);
        match (&self.latency_table, self.loss == LossMode::Budget) {
            (None, true) if !budget(self.budget_mflops) => {
                return bad("the budget loss needs a positive budget_mflops".into());
            }
            (Some(_), true) if !budget(self.budget_ms) => {
                return bad(
                    "the budget loss with a latency table needs a positive budget_ms".into(),
                );
            }
            _ => {}
        }
        if self.latency_table.is_some() && self.budget_mflops.is_some() {
            return bad(
                "with a latency table the budget is budget_ms (latency), not budget_mflops".into(),
            );
        }
        if self.latency_table.is_none() && self.budget_ms.is_some() {
            return bad("budget_ms needs a latency table (latency_table)".into());
        }
        if self.select_candidates > 1
            && (self.select_images == 0 || self.select_calibration_images == 0)
        {
            return bad(
                "selection (select_candidates > 1) needs positive select_images and select_calibration_images"
                    .into(),
            );
        }
        Ok(())
    }

    /// The budget target in FLOPs: set in budget mode with a positive, finite target
    /// (the band of [`band::budget_band`](super::band::budget_band) with the FLOP cost).
    pub fn budget_flops(&self) -> Option<f64> {
        super::band::budget_band(self, &super::loss::Flops).map(|(target, _)| target)
    }

    /// Gumbel temperature at epoch `e`.
    pub fn temperature(&self, e: usize) -> f64 {
        match self.temperature_end {
            Some(end) if self.epochs > 1 => {
                let t = e as f64 / (self.epochs - 1) as f64;
                self.temperature_start * (end / self.temperature_start).powf(t)
            }
            Some(end) => end,
            None => self.temperature_start * self.temperature_decay.powi(e as i32),
        }
    }

    /// Probability that weight step `s` of `total` trains the largest network (full-width
    /// warm-up): 1 − s / (f · total) over the first f · total steps, then 0.
    pub fn full_width_prob(&self, s: usize, total: usize) -> f64 {
        let end = self.full_width_warmup * total as f64;
        if end <= 0.0 {
            0.0
        } else {
            (1.0 - s as f64 / end).max(0.0)
        }
    }

    /// Cosine learning rate of the weights at step `s` of `total`.
    pub fn weight_lr_at(&self, s: usize, total: usize) -> f64 {
        let t = s as f64 / total.max(1) as f64;
        0.5 * self.weight_lr * (1.0 + (std::f64::consts::PI * t).cos())
    }
}

#[cfg(test)]
mod tests {
    use super::SearchConfig;

    #[test]
    fn full_width_probability_falls_from_one_to_zero_over_the_warmup() {
        let cfg = SearchConfig {
            full_width_warmup: 0.25,
            ..SearchConfig::default()
        };
        assert_eq!(cfg.full_width_prob(0, 400), 1.0);
        assert_eq!(cfg.full_width_prob(50, 400), 0.5);
        assert_eq!(cfg.full_width_prob(100, 400), 0.0);
        assert_eq!(cfg.full_width_prob(300, 400), 0.0);
        assert_eq!(SearchConfig::default().full_width_prob(0, 400), 0.0);
    }
}
