//! Search-space files (`dmasking-space/1`, docs/SPACE_FORMAT.md).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::arch::{
    Act, Head, HeadOp, Stem, check_dropout, check_expansion, check_kernel, check_positive,
    check_stride, default_true, default_width_divisor, is_true,
};
use crate::error::{Error, Result};

/// The format tag of search-space files.
pub const SPACE_FORMAT: &str = "dmasking-space/1";

fn default_in_channels() -> usize {
    3
}
fn default_num_classes() -> usize {
    1000
}

/// A width, or a list of width options (one masked choice).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(untagged)]
pub enum Widths {
    /// A single, fixed width.
    One(usize),
    /// Width options (one masked choice).
    Options(Vec<usize>),
}

impl Widths {
    /// The options (one for a fixed width).
    pub fn options(&self) -> Vec<usize> {
        match self {
            Widths::One(w) => vec![*w],
            Widths::Options(v) => v.clone(),
        }
    }
}

/// The stem of a space: an architecture's stem whose `out` may be a list of options.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StemSpace {
    /// Output width, or its options (the `stem.width` choice).
    pub out: Widths,
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

impl StemSpace {
    /// The architecture's stem with output width `out`.
    pub fn with_out(&self, out: usize) -> Stem {
        Stem {
            out,
            kernel: self.kernel,
            stride: self.stride,
            act: self.act,
            bias: self.bias,
        }
    }
}

/// The head of a space: an architecture's head whose `out` may be a list of options
/// (`conv` heads only).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HeadSpace {
    /// Head kind.
    pub op: HeadOp,
    /// `ir_pool` only: width before the pool = `divisible(in × expansion, width_divisor)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expansion: Option<f64>,
    /// Output width; a list of options (the `head.width` choice) only for a `conv` head.
    pub out: Widths,
    /// Activation (default ReLU).
    #[serde(default)]
    pub act: Act,
}

impl HeadSpace {
    /// The architecture's head with output width `out`.
    pub fn with_out(&self, out: usize) -> Head {
        Head {
            op: self.op,
            expansion: self.expansion,
            out,
            act: self.act,
        }
    }
}

/// One candidate op of a stage's coupled op list (FBNet's per-layer candidates): kernel,
/// expansion and SE chosen together.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OpSpace {
    /// Depthwise kernel size (odd).
    pub kernel: usize,
    /// Hidden width = `divisible(in_max × expansion, width_divisor)`.
    pub expansion: f64,
    /// Squeeze-excitation (default false).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub se: bool,
}

/// A stage: `blocks` consecutive `ir` blocks, the first with `stride`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StageSpace {
    /// Number of `ir` blocks in the stage.
    pub blocks: usize,
    /// Stride of the stage's first block (the others have stride 1).
    pub stride: usize,
    /// Output-width options, one masked choice shared by the stage; without it the stage
    /// keeps the width of whatever feeds it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out: Option<Vec<usize>>,
    /// Hidden-width (expansion) options, one masked choice per block (not with `ops`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expansion: Option<Vec<f64>>,
    /// Kernel options (branch choice per block; default `[3]`; not with `ops`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<Vec<usize>>,
    /// Squeeze-excitation options (branch choice per block; default `[false]`; not with
    /// `ops`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub se: Option<Vec<bool>>,
    /// Coupled candidate ops, one branch choice per block, instead of independent
    /// `kernel` × `se` branches and an `expansion` choice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ops: Option<Vec<OpSpace>>,
    /// Every block except the first may be dropped.
    #[serde(default)]
    pub skip: bool,
    /// The first block may be dropped too; where it changes the shape it becomes a 1×1
    /// conv → BN → `skip_act` projection.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub skip_first: bool,
    /// Activation of a skip projection (default ReLU).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_act: Option<Act>,
    /// Activation of every block of the stage (default ReLU).
    #[serde(default)]
    pub act: Act,
}

impl StageSpace {
    /// The kernel options (`[3]` when not given).
    pub fn kernels(&self) -> Vec<usize> {
        self.kernel.clone().unwrap_or_else(|| vec![3])
    }
    /// The SE options (`[false]` when not given).
    pub fn ses(&self) -> Vec<bool> {
        self.se.clone().unwrap_or_else(|| vec![false])
    }
}

/// A `dmasking-space/1` document.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Space {
    /// Format tag; must be [`SPACE_FORMAT`].
    pub format: String,
    /// Optional label; derived files are named `<name>-derived`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Side of the training images and of the supernet's full grid, in pixels.
    pub input_size: usize,
    /// Input-resolution options (one network-wide choice).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolutions: Option<Vec<usize>>,
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
    pub stem: StemSpace,
    /// The stages, in order (at least one).
    pub stages: Vec<StageSpace>,
    /// The head.
    pub head: HeadSpace,
    /// Dropout before the classifier, copied into derived files (default 0).
    #[serde(default)]
    pub dropout: f64,
}

fn check_options<T: PartialEq + std::fmt::Debug>(path: &str, opts: &[T]) -> Result<()> {
    if opts.is_empty() {
        return Err(Error::invalid(path, "needs at least one option"));
    }
    for (i, o) in opts.iter().enumerate() {
        if opts[..i].contains(o) {
            return Err(Error::invalid(
                format!("{path}[{i}]"),
                format!("duplicate option {o:?}"),
            ));
        }
    }
    Ok(())
}

/// Options: non-empty, distinct, positive.
fn check_widths(path: &str, w: &Widths) -> Result<()> {
    let opts = w.options();
    check_options(path, &opts)?;
    match (w, opts.iter().position(|&o| o == 0)) {
        (_, None) => Ok(()),
        (Widths::One(_), Some(_)) => Err(Error::invalid(path, "must be positive")),
        (Widths::Options(_), Some(i)) => {
            Err(Error::invalid(format!("{path}[{i}]"), "must be positive"))
        }
    }
}

impl Space {
    /// Parse and validate a search-space document.
    pub fn from_json(text: &str) -> Result<Self> {
        let space: Space = crate::json::parse(text)?;
        space.validate()?;
        Ok(space)
    }

    /// Read, parse and validate a search-space file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::from_json(&text)
    }

    /// The resolution options (the fixed `input_size` when not searched).
    pub fn resolution_options(&self) -> Vec<usize> {
        match &self.resolutions {
            Some(r) if !r.is_empty() => r.clone(),
            _ => vec![self.input_size],
        }
    }

    /// Check every field that parsing cannot.
    pub fn validate(&self) -> Result<()> {
        if self.format != SPACE_FORMAT {
            return Err(Error::invalid(
                "$.format",
                format!("expected \"{SPACE_FORMAT}\", got \"{}\"", self.format),
            ));
        }
        check_positive("$", "input_size", self.input_size)?;
        check_positive("$", "in_channels", self.in_channels)?;
        check_positive("$", "num_classes", self.num_classes)?;
        check_positive("$", "width_divisor", self.width_divisor)?;
        if let Some(r) = &self.resolutions {
            check_options("$.resolutions", r)?;
            for (i, &v) in r.iter().enumerate() {
                if v == 0 || v > self.input_size {
                    return Err(Error::invalid(
                        format!("$.resolutions[{i}]"),
                        format!("must be in 1..={} (input_size), got {v}", self.input_size),
                    ));
                }
            }
        }
        check_widths("$.stem.out", &self.stem.out)?;
        check_kernel("$.stem", self.stem.kernel)?;
        check_stride("$.stem", self.stem.stride)?;
        if self.stages.is_empty() {
            return Err(Error::invalid("$.stages", "needs at least one stage"));
        }
        for (s, st) in self.stages.iter().enumerate() {
            st.validate(&format!("$.stages[{s}]"))?;
        }
        check_widths("$.head.out", &self.head.out)?;
        if matches!(&self.head.out, Widths::Options(v) if v.len() > 1)
            && self.head.op != HeadOp::Conv
        {
            return Err(Error::invalid(
                "$.head.out",
                "a list of widths needs a conv head (op \"conv\")",
            ));
        }
        self.head.with_out(self.head.out.options()[0]).check()?;
        check_dropout(self.dropout)
    }
}

impl StageSpace {
    /// Check the stage at JSON path `p`: blocks, stride, widths, and either its coupled
    /// `ops` or its expansion, kernel and SE options (not both).
    fn validate(&self, p: &str) -> Result<()> {
        check_positive(p, "blocks", self.blocks)?;
        check_stride(p, self.stride)?;
        if let Some(out) = &self.out {
            check_widths(&format!("{p}.out"), &Widths::Options(out.clone()))?;
        }
        let kernel_at = |path: String, k: usize| {
            check_kernel(&path, k).map_err(|e| match e {
                Error::Invalid { message, .. } => Error::invalid(path, message),
                e => e,
            })
        };
        let Some(ops) = &self.ops else {
            let expansion = self.expansion.as_ref().ok_or_else(|| {
                Error::invalid(format!("{p}.expansion"), "missing field (or give `ops`)")
            })?;
            check_options(&format!("{p}.expansion"), expansion)?;
            for (i, &e) in expansion.iter().enumerate() {
                check_expansion(&format!("{p}.expansion[{i}]"), e)?;
            }
            let kernels = self.kernels();
            check_options(&format!("{p}.kernel"), &kernels)?;
            for (i, &k) in kernels.iter().enumerate() {
                kernel_at(format!("{p}.kernel[{i}]"), k)?;
            }
            return check_options(&format!("{p}.se"), &self.ses());
        };
        let given = [
            ("expansion", self.expansion.is_some()),
            ("kernel", self.kernel.is_some()),
            ("se", self.se.is_some()),
        ];
        if let Some((name, _)) = given.iter().find(|(_, present)| *present) {
            return Err(Error::invalid(
                format!("{p}.{name}"),
                "not allowed beside `ops` (give it per op)",
            ));
        }
        check_options(&format!("{p}.ops"), ops)?;
        for (i, op) in ops.iter().enumerate() {
            kernel_at(format!("{p}.ops[{i}].kernel"), op.kernel)?;
            check_expansion(&format!("{p}.ops[{i}].expansion"), op.expansion)?;
        }
        Ok(())
    }
}
