//! The search (docs/ALGORITHM.md, "The alternating loop"): alternating weight steps (SGD,
//! cosine LR) on one split and architecture steps (Adam) on the other under a FLOP-aware
//! loss, with Gumbel temperature annealing, then the selection of the derived network.
//! [`Searcher`] is the entry point; a run directory records the config, metrics,
//! checkpoints (every epoch and on a stop request) and the derived architecture, and a
//! resumed run continues exactly where it stopped.

pub mod band;
pub mod config;
pub mod distill;
mod epochs;
pub mod fidelity;
pub mod loss;
pub mod metrics;
pub mod oneshot;
pub mod progress;
pub mod searcher;
pub mod select;
pub mod trainer;

pub use band::final_picks;
pub use config::{RunConfig, SearchConfig, SelectBy, WeightStep};
pub use loss::{ArchLoss, CostRange, Flops, LossMode, SearchCost};
pub use metrics::{SearchEpoch, SearchMetric, SearchStep};
pub use progress::Progress;
pub use searcher::{SearchOutcome, Searcher};
pub use trainer::SupernetTrainer;

/// FNV-1a, a stable hash of the resolved config for provenance.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}
