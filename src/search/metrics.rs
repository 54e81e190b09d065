//! The search's metrics lines (`metrics.jsonl`, one JSON object per line), as written and
//! as `report` reads them back.

use serde::{Deserialize, Serialize};

/// One line of a search's `metrics.jsonl`, tagged by `kind`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum SearchMetric {
    /// Every `log_every` weight steps: means since the previous step line.
    Step(SearchStep),
    /// At the end of each epoch.
    Epoch(SearchEpoch),
}

/// Means over the steps since the previous step line.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct SearchStep {
    /// 0-based epoch.
    pub epoch: usize,
    /// Weight steps done in the run.
    pub step: usize,
    /// Mean cross-entropy and top-1 of the weight steps (`None`: none since the last line).
    pub weight_loss: Option<f64>,
    /// Mean top-1 of those weight steps.
    pub weight_acc: Option<f64>,
    /// Mean cross-entropy and top-1 of the architecture steps.
    pub arch_loss: Option<f64>,
    /// Mean top-1 of those architecture steps.
    pub arch_acc: Option<f64>,
    /// Expected MFLOPs under softmax(α).
    pub expected_mflops: f64,
    /// Gumbel-softmax temperature.
    pub temperature: f64,
    /// Learning rate of the weights.
    pub weight_lr: f64,
    /// Learning rate of the architecture logits.
    pub arch_lr: f64,
    /// The budget loss's penalty weight μ.
    pub budget_mu: f64,
}

/// The state of the search after an epoch.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct SearchEpoch {
    /// 0-based epoch.
    pub epoch: usize,
    /// Weight steps done in the run.
    pub step: usize,
    /// Mean cross-entropy and top-1 of the epoch's weight steps.
    pub weight_loss: Option<f64>,
    /// Mean top-1 of those weight steps.
    pub weight_acc: Option<f64>,
    /// Expected MFLOPs under softmax(α), and the exact MFLOPs of the argmax network.
    pub expected_mflops: f64,
    /// Exact MFLOPs of the argmax network.
    pub argmax_mflops: f64,
    /// Gumbel-softmax temperature.
    pub temperature: f64,
    /// Learning rate of the weights.
    pub weight_lr: f64,
    /// Learning rate of the architecture logits.
    pub arch_lr: f64,
    /// The budget loss's penalty weight μ.
    pub budget_mu: f64,
    /// Mean entropy (nats) of the choices' distributions.
    pub mean_entropy: f64,
    /// softmax(α) of every choice, by choice name.
    pub probabilities: serde_json::Map<String, serde_json::Value>,
    /// Seconds since the run started (resumed runs included).
    #[serde(default)]
    pub seconds: f64,
}
