//! A training run's metrics lines (`metrics.jsonl`), as written and as `report` reads them.

use serde::{Deserialize, Serialize};

/// One line of a training run's `metrics.jsonl`, tagged by `kind`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum TrainMetric {
    /// Every `log_every` steps: means since the previous step line.
    Step(TrainStep),
    /// At the end of each epoch, with the validation and test evaluations.
    Epoch(TrainEpoch),
}

/// Means over the steps since the previous step line.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct TrainStep {
    /// 0-based epoch.
    pub epoch: usize,
    /// Steps done in the run.
    pub step: usize,
    /// Mean training loss (label-smoothed cross-entropy) and top-1.
    pub train_loss: Option<f64>,
    /// Mean training top-1.
    pub train_acc: Option<f64>,
    /// Learning rate of the last step.
    pub lr: f64,
}

/// An epoch's training means and evaluations.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct TrainEpoch {
    /// 0-based epoch.
    pub epoch: usize,
    /// Steps done in the run.
    pub step: usize,
    /// Mean training loss (label-smoothed cross-entropy).
    pub train_loss: Option<f64>,
    /// Mean training top-1.
    pub train_acc: Option<f64>,
    /// Loss and top-1 on the held-out validation images (absent without validation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_loss: Option<f64>,
    /// Validation top-1 (absent without validation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_top1: Option<f64>,
    /// Loss and top-1 on the test images (reported only; never used to choose).
    pub test_loss: f64,
    /// Test top-1.
    pub test_top1: f64,
    /// Learning rate of the last step.
    pub lr: f64,
    /// Seconds since the run started (resumed runs included).
    pub seconds: f64,
    /// Whether this epoch's weights became `best.bpk`.
    #[serde(default)]
    pub best: bool,
}
