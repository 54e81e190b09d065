//! Retraining settings: the recipe every architecture of a comparison gets.

use serde::{Deserialize, Serialize};

use crate::arch::Arch;
use crate::data::Transform;
use crate::error::{Error, Result};
use crate::run::RunDir;

/// Every setting of a training run; written to the run directory. A settings file may
/// give any subset (the rest take their defaults); an unknown field is an error.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// Epochs over the training images.
    pub epochs: usize,
    /// Images per step.
    pub batch_size: usize,
    /// Seed of initialisation, validation split, batches and dropout.
    pub seed: u64,
    /// Train on a seeded random subset of this many images (all when absent; the CLI
    /// cuts the data with `ImageSet::train_subset(n, seed)`, `Trainer::run` trains on
    /// the images it is given).
    pub max_images: Option<usize>,
    /// Test on a seeded random subset of this many test images (all when absent; cut by
    /// the CLI with `ImageSet::test_subset`).
    pub max_test_images: Option<usize>,
    /// Peak learning rate (SGD with Nesterov momentum).
    pub lr: f64,
    /// SGD momentum.
    pub momentum: f64,
    /// Nesterov momentum.
    pub nesterov: bool,
    /// L2 weight decay of conv and linear weights (not of BN parameters or biases).
    pub weight_decay: f64,
    /// Linear warm-up from lr / steps to lr over this many epochs, then cosine to 0.
    pub warmup_epochs: f64,
    /// Label smoothing of the cross-entropy (0: none).
    pub label_smoothing: f64,
    /// Augment the training images as the data's `Transform` says (a random crop of the
    /// zero-padded image, or RandomResizedCrop of a streamed folder's originals;
    /// horizontal flips).
    pub augment: bool,
    /// Log a metrics line every this many steps (0: per epoch only).
    pub log_every: usize,
    /// Fraction of the training images held out (seeded) to choose `best.bpk` on: the
    /// epoch with the best validation top-1 (0: no validation, `best.bpk` is the last
    /// epoch). The test set is only reported, never used to choose.
    pub validation_fraction: f64,
    /// Also checkpoint mid-epoch every this many steps (0: not by steps).
    pub checkpoint_steps: usize,
    /// Also checkpoint mid-epoch once this many minutes have passed since the last
    /// checkpoint (0: not by time).
    pub checkpoint_minutes: f64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 10,
            batch_size: 64,
            seed: 0,
            max_images: None,
            max_test_images: None,
            lr: 0.1,
            momentum: 0.9,
            nesterov: true,
            weight_decay: 5e-4,
            warmup_epochs: 1.0,
            label_smoothing: 0.1,
            augment: true,
            log_every: 50,
            validation_fraction: 0.1,
            checkpoint_steps: 0,
            checkpoint_minutes: 30.0,
        }
    }
}

impl TrainConfig {
    /// Check every setting; the error names the first bad one.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        if self.epochs == 0 || self.batch_size == 0 {
            return bad("epochs and batch_size must be positive".into());
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad(format!("lr must be a positive number, got {}", self.lr));
        }
        if !(0.0..1.0).contains(&self.validation_fraction) {
            return bad(format!(
                "validation_fraction must be in [0, 1), got {}",
                self.validation_fraction
            ));
        }
        if !(self.checkpoint_minutes.is_finite() && self.checkpoint_minutes >= 0.0) {
            return bad(format!(
                "checkpoint_minutes must be a number >= 0, got {}",
                self.checkpoint_minutes
            ));
        }
        if !(0.0..1.0).contains(&self.label_smoothing) {
            return bad(format!(
                "label_smoothing must be in [0, 1), got {}",
                self.label_smoothing
            ));
        }
        Ok(())
    }

    /// Learning rate at step `s` (0-based) of `total`, `warmup` of them warming up:
    /// lr·(s+1)/warmup, then lr·½(1 + cos(π·(s − warmup)/(total − warmup))).
    pub fn lr_at(&self, s: usize, total: usize, warmup: usize) -> f64 {
        if s < warmup {
            return self.lr * (s + 1) as f64 / warmup as f64;
        }
        let t = (s - warmup) as f64 / (total - warmup).max(1) as f64;
        0.5 * self.lr * (1.0 + (std::f64::consts::PI * t).cos())
    }
}

/// What a training run's `config.json` holds: the architecture and every setting.
#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct TrainRunConfig {
    /// The network trained.
    pub arch: Arch,
    /// The recipe.
    pub train: TrainConfig,
    /// How the training data became network inputs (what an export normalises with);
    /// absent in runs written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transform: Option<Transform>,
}

impl TrainRunConfig {
    /// The `config.json` of training run `run`, parsed and validated.
    pub fn read(run: &RunDir) -> Result<Self> {
        let (mut cfg, raw): (TrainRunConfig, _) = run.read_config()?;
        // A run written before the validation split existed continues without one.
        if raw["train"].get("validation_fraction").is_none() {
            cfg.train.validation_fraction = 0.0;
        }
        cfg.arch.layout()?;
        cfg.train.validate()?;
        Ok(cfg)
    }
}
