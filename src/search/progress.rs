//! Where a run stands: everything besides tensors that a resumed run needs to continue
//! exactly as an uninterrupted one.

use serde::{Deserialize, Serialize};

use crate::run::Sums;

/// The position of a run, saved with every checkpoint.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Progress {
    /// The epoch in progress (== epochs when finished).
    pub epoch: usize,
    /// Weight batches done in this epoch.
    pub batch: usize,
    /// Weight steps done in the run.
    pub step: usize,
    /// Architecture-split pass in this epoch, and batches used of it.
    pub arch_round: u64,
    /// Architecture batches used of that pass.
    pub arch_used: usize,
    /// Gumbel noise vectors drawn in this epoch.
    pub noise_draws: usize,
    /// The budget loss's penalty weight μ.
    pub budget_mu: f64,
    /// Training images through the network so far (weight and architecture steps).
    pub images: usize,
    /// Seconds of search before the current process.
    pub seconds: f64,
    /// Lines of metrics.jsonl written so far.
    pub metrics_lines: usize,
    /// Weight-step sums of the epoch in progress.
    pub epoch_weight: Sums,
    /// Weight-step sums since the last metrics line.
    pub log_weight: Sums,
    /// Architecture-step sums since the last metrics line.
    pub log_arch: Sums,
}

crate::run::impl_position!(Progress);
