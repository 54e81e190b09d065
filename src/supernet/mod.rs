//! The masked supernet (docs/ALGORITHM.md): Gumbel-softmax architecture weights, channel
//! masks, branch choices, resolution sub-lattices, effective-shape cost, and derivation.

pub mod baseline;
pub mod block;
pub mod derive;
pub mod eff;
pub mod extremes;
pub mod gumbel;
pub mod lattice;
pub mod mask;
pub mod mirror;
#[doc(hidden)]
pub mod naive;
pub mod net;
pub mod picks;
pub mod plan;
pub mod random;

pub use baseline::{ScaleBy, Scaled, scaled_baseline};
pub use block::{OpSharing, SuperBlock};
pub use eff::Eff;
pub use extremes::{EXTREME_LIMIT, Extreme};
pub use gumbel::{ArchLogits, ArchWeights, gumbel_noise, gumbel_values};
pub use lattice::Lattice;
pub use net::Supernet;
pub use plan::{Choice, ChoiceKind, Plan};
