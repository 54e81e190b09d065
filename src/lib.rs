//! # dmasking
//!
//! DMaskingNAS, the differentiable architecture search of FBNetV2 (Wan et al., CVPR 2020),
//! on the Burn deep-learning framework: masked channel- and resolution-search supernets
//! with Gumbel-softmax architecture weights, a FLOP/param cost model with effective shape
//! propagation, derivation of the final architecture, and the fixed network it describes.

#![warn(missing_docs)]
// Burn tensors are large values; enums holding one beside small variants are intended.
#![allow(clippy::large_enum_variant)]

#[cfg(feature = "cli")]
#[doc(hidden)]
pub mod alloc;
pub mod arch;
#[cfg(feature = "cli")]
#[doc(hidden)]
pub mod bench;
pub mod benchmark;
#[cfg(feature = "cli")]
#[doc(hidden)]
pub mod cli;
pub mod cost;
pub mod data;
pub mod device;
pub mod divisible;
pub mod error;
pub mod eval;
pub mod json;
pub mod kernels;
pub mod latency;
pub mod nn;
#[cfg(feature = "onnx")]
pub mod onnx;
#[cfg(feature = "report")]
pub mod plot;
#[cfg(feature = "pytorch")]
pub mod pretrained;
#[cfg(feature = "report")]
pub mod report;
pub mod run;
pub mod search;
pub mod space;
pub mod supernet;
pub mod train;
pub mod zoo;

pub use error::{Error, Result};

/// The types most programs need: `use dmasking::prelude::*;`.
pub mod prelude {
    pub use crate::arch::Arch;
    pub use crate::cost::count;
    pub use crate::data::{ImageData, ImageSet, Split, Transform, load};
    pub use crate::error::{Error, Result};
    pub use crate::run::{Attach, Observer, RunDir, StopToken};
    pub use crate::search::{SearchConfig, SearchMetric, SearchOutcome, Searcher};
    pub use crate::space::Space;
    pub use crate::train::{TrainConfig, TrainMetric, TrainOutcome, Trainer};
    pub use burn::tensor::Device;
}
