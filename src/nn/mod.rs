//! Network building blocks shared by the fixed network and the supernet.

pub mod act;
pub mod conv_bn;
pub mod head;
pub mod ir_block;
pub mod net;
pub mod se;

pub use act::Act;
pub use conv_bn::{ConvBnAct, ConvBnActConfig};
pub use head::{Head, HeadConfig};
pub use ir_block::{IrBlock, IrBlockConfig, IrMasks, fit_channels, keep_or_identity};
pub use net::{FixedBlock, FixedNet, Part};
pub use se::{SqueezeExcite, SqueezeExciteConfig, global_pool};
