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
    pub out: usize,
    pub kernel: usize,
    pub stride: usize,
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
    pub op: BlockOp,
    pub out: usize,
    pub stride: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expansion: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mid: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub se: Option<bool>,
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
    pub op: HeadOp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expansion: Option<f64>,
    pub out: usize,
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
    pub format: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub input_size: usize,
    #[serde(default = "default_in_channels")]
    pub in_channels: usize,
    #[serde(default = "default_num_classes")]
    pub num_classes: usize,
    #[serde(default = "default_width_divisor")]
    pub width_divisor: usize,
    pub stem: Stem,
    pub blocks: Vec<Block>,
    pub head: Head,
    #[serde(default)]
    pub dropout: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<serde_json::Value>,
}
