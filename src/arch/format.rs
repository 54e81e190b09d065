//! The `dmasking-arch/1` document: a fixed network, as JSON (see docs/ARCH_FORMAT.md).

use serde::{Deserialize, Serialize};

/// The format tag of architecture files.
pub const ARCH_FORMAT: &str = "dmasking-arch/1";

/// Activation of a layer.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default, Hash,
)]
#[serde(rename_all = "lowercase")]
pub enum Act {
    /// max(x, 0)
    #[default]
    Relu,
    /// x · relu6(x + 3) / 6
    Hswish,
    /// The identity (a linear layer, e.g. NAS-Bench-Macro's skip projection).
    None,
}

pub(crate) fn default_true() -> bool {
    true
}
pub(crate) fn is_true(b: &bool) -> bool {
    *b
}

/// The stem: k×k conv (bias unless `bias: false`) → BN → act.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Stem {
    /// Output channels.
    pub out: usize,
    /// Kernel size k of the k×k conv (odd).
    pub kernel: usize,
    /// Stride (1 or 2).
    pub stride: usize,
    /// Activation (default ReLU).
    #[serde(default)]
    pub act: Act,
    /// The conv has a bias (default true).
    #[serde(default = "default_true", skip_serializing_if = "is_true")]
    pub bias: bool,
}

/// Kind of a block.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum BlockOp {
    /// Inverted residual.
    Ir,
    /// Identity, or 1×1 conv → BN → act (default ReLU) when the shape changes.
    Skip,
}

/// One block. Fields that only an `ir` block has are optional here and checked by
/// validation, so that every error can name its JSON path.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Block {
    /// Block kind: `ir` or `skip`.
    pub op: BlockOp,
    /// Output channels.
    pub out: usize,
    /// Stride (1 or 2).
    pub stride: usize,
    /// `ir` only: depthwise kernel size (odd).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<usize>,
    /// `ir` only: hidden width = `divisible(in × expansion, width_divisor)` (exactly one of `mid`
    /// and `expansion`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expansion: Option<f64>,
    /// `ir` only: hidden width, used as given (exactly one of `mid` and `expansion`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mid: Option<usize>,
    /// `ir` only: squeeze-excitation after the depthwise conv (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub se: Option<bool>,
    /// Activation of an `ir` block (and its SE) or of a projecting skip (default ReLU).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Act>,
}

impl Block {
    /// An `ir` block with an explicit hidden width.
    pub fn ir(out: usize, stride: usize, kernel: usize, mid: usize, se: bool, act: Act) -> Self {
        Block {
            op: BlockOp::Ir,
            out,
            stride,
            kernel: Some(kernel),
            expansion: None,
            mid: Some(mid),
            se: se.then_some(true),
            act: (act != Act::Relu).then_some(act),
        }
    }
}

impl Block {
    /// A skip block: the identity, or where the shape changes a 1×1 projection with
    /// activation `act`.
    pub fn skip(out: usize, stride: usize, act: Act) -> Self {
        Block {
            op: BlockOp::Skip,
            out,
            stride,
            kernel: None,
            expansion: None,
            mid: None,
            se: None,
            act: (act != Act::Relu).then_some(act),
        }
    }
}

/// Head kind.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum HeadOp {
    /// [1×1 expand → BN → act] → global pool → 1×1 conv to `out` → act (FBNetV2).
    IrPool,
    /// 1×1 conv to `out` (no bias) → BN → act → global pool (MobileNetV2).
    Conv,
}

/// The head before the classifier. `expansion` belongs to `ir_pool` only.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Head {
    /// Head kind.
    pub op: HeadOp,
    /// `ir_pool` only: width before the pool = `divisible(in × expansion, width_divisor)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expansion: Option<f64>,
    /// `ir_pool`: width of the post-pool 1×1 conv; `conv`: width of the 1×1 conv before the pool.
    pub out: usize,
    /// Activation (default ReLU).
    #[serde(default)]
    pub act: Act,
}

fn default_in_channels() -> usize {
    3
}
fn default_num_classes() -> usize {
    1000
}
pub(crate) fn default_width_divisor() -> usize {
    8
}

/// A `dmasking-arch/1` document.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Arch {
    /// Format tag; must be [`ARCH_FORMAT`].
    pub format: String,
    /// Optional label; no effect on the network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Side of the square input image, in pixels.
    pub input_size: usize,
    /// Image channels (default 3).
    #[serde(default = "default_in_channels")]
    pub in_channels: usize,
    /// Classifier outputs (default 1000).
    #[serde(default = "default_num_classes")]
    pub num_classes: usize,
    /// The divisor `d` of the width rounding `divisible(x, d)` (default 8).
    #[serde(default = "default_width_divisor")]
    pub width_divisor: usize,
    /// The stem.
    pub stem: Stem,
    /// The blocks, in order (may be empty).
    pub blocks: Vec<Block>,
    /// The head before the classifier.
    pub head: Head,
    /// Dropout before the classifier, in [0, 1) (training only; default 0).
    #[serde(default)]
    pub dropout: f64,
    /// Where the file came from (free-form JSON); no effect on the network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<serde_json::Value>,
}
