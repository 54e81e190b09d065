//! Validation of an [`Arch`] and its resolution into concrete layer widths (the "layout"),
//! which both the FLOP counter and the network builder read.

use super::format::{ARCH_FORMAT, Act, Arch, Block, BlockOp, Head, HeadOp};
use crate::divisible::{divisible, se_hidden};
use crate::error::{Error, Result};

/// A concrete inverted-residual block.
#[derive(Clone, Debug, PartialEq)]
pub struct IrLayout {
    /// Input channels.
    pub c_in: usize,
    /// Hidden width (output of the pw expansion, channels of the dw conv).
    pub mid: usize,
    /// Output channels.
    pub c_out: usize,
    /// Depthwise kernel size (odd).
    pub kernel: usize,
    /// Stride of the depthwise conv (1 or 2).
    pub stride: usize,
    /// Hidden width of the squeeze-excitation, if any.
    pub se: Option<usize>,
    /// Activation of the block (and of its SE).
    pub act: Act,
}

impl IrLayout {
    /// The pw expansion exists only when the hidden width differs from the input width.
    pub fn has_pw(&self) -> bool {
        self.mid != self.c_in
    }
    /// Identity residual when stride 1 and widths agree.
    pub fn has_residual(&self) -> bool {
        self.stride == 1 && self.c_in == self.c_out
    }
}

/// A concrete block.
#[derive(Clone, Debug, PartialEq)]
pub enum BlockLayout {
    /// An inverted-residual block.
    Ir(IrLayout),
    /// Identity, or where the shape changes ([`is_projection`](Self::is_projection))
    /// 1×1 conv (stride) → BN → act.
    Skip {
        /// Input channels.
        c_in: usize,
        /// Output channels.
        c_out: usize,
        /// Stride (1 or 2).
        stride: usize,
        /// Activation of the projection (unused by an identity).
        act: Act,
    },
}

impl BlockLayout {
    /// Output channels of the block.
    pub fn c_out(&self) -> usize {
        match self {
            BlockLayout::Ir(b) => b.c_out,
            BlockLayout::Skip { c_out, .. } => *c_out,
        }
    }
    /// Stride of the block.
    pub fn stride(&self) -> usize {
        match self {
            BlockLayout::Ir(b) => b.stride,
            BlockLayout::Skip { stride, .. } => *stride,
        }
    }
    /// A skip that changes the stride or the width is a 1×1 conv projection.
    pub fn is_projection(&self) -> bool {
        match self {
            BlockLayout::Ir(_) => false,
            BlockLayout::Skip {
                c_in,
                c_out,
                stride,
                ..
            } => *stride != 1 || c_in != c_out,
        }
    }
}

/// The head: a 1×1 conv to `mid` (optional in `ir_pool`), pool, in `ir_pool` a 1×1
/// conv to `out`, then the classifier.
#[derive(Clone, Debug, PartialEq)]
pub struct HeadLayout {
    /// Head kind.
    pub op: HeadOp,
    /// Input channels (the last block's output width).
    pub c_in: usize,
    /// Width before the pool.
    pub mid: usize,
    /// `ir_pool`: width of the post-pool 1×1 conv; `conv`: the 1×1 conv's width (equal to `mid`).
    pub out: usize,
    /// Activation.
    pub act: Act,
}

impl HeadLayout {
    /// The 1×1 conv before the pool: always in `conv`, in `ir_pool` where mid != c_in.
    pub fn has_pw(&self) -> bool {
        self.op == HeadOp::Conv || self.mid != self.c_in
    }
    /// The width of the pooled features the classifier reads.
    pub fn features(&self) -> usize {
        match self.op {
            HeadOp::IrPool => self.out,
            HeadOp::Conv => self.mid,
        }
    }
}

impl Head {
    /// The width before the pool for input width `c_in`: divisible(c_in · expansion) in
    /// `ir_pool`, `out` in `conv`.
    pub fn mid(&self, c_in: usize, divisor: usize) -> usize {
        match (self.op, self.expansion) {
            (HeadOp::IrPool, Some(e)) => divisible(c_in as f64 * e, divisor),
            _ => self.out,
        }
    }

    pub(crate) fn check(&self) -> Result<()> {
        match (self.op, self.expansion) {
            (HeadOp::IrPool, None) => {
                return Err(Error::invalid(
                    "$.head.expansion",
                    "missing field (required for ir_pool)",
                ));
            }
            (HeadOp::IrPool, Some(e)) => check_expansion("$.head.expansion", e)?,
            (HeadOp::Conv, Some(_)) => {
                return Err(Error::invalid(
                    "$.head.expansion",
                    "not allowed on a conv head",
                ));
            }
            (HeadOp::Conv, None) => {}
        }
        check_positive("$.head", "out", self.out)
    }
}

/// Every width of a validated architecture.
#[derive(Clone, Debug, PartialEq)]
pub struct Layout {
    /// Image channels.
    pub in_channels: usize,
    /// Classifier outputs.
    pub num_classes: usize,
    /// Stem output channels.
    pub stem_out: usize,
    /// Stem kernel size (odd).
    pub stem_kernel: usize,
    /// Stem stride (1 or 2).
    pub stem_stride: usize,
    /// Stem activation.
    pub stem_act: Act,
    /// The stem conv has a bias.
    pub stem_bias: bool,
    /// Every block, in order.
    pub blocks: Vec<BlockLayout>,
    /// The head.
    pub head: HeadLayout,
    /// Dropout before the classifier (training only).
    pub dropout: f64,
}

impl Layout {
    /// The same network without its identity skips (which change nothing), so that two
    /// descriptions of one network compare equal.
    pub fn without_identities(self) -> Layout {
        Layout {
            blocks: self
                .blocks
                .into_iter()
                .filter(|b| matches!(b, BlockLayout::Ir(_)) || b.is_projection())
                .collect(),
            ..self
        }
    }
}

/// Output size of a k×k conv with padding k/2: `floor((h + 2(k/2) - k) / s) + 1`.
pub fn conv_out(h: usize, kernel: usize, stride: usize) -> usize {
    (h + 2 * (kernel / 2) - kernel) / stride + 1
}

pub(crate) fn check_positive(path: &str, name: &str, v: usize) -> Result<()> {
    if v == 0 {
        return Err(Error::invalid(format!("{path}.{name}"), "must be positive"));
    }
    Ok(())
}

pub(crate) fn check_kernel(path: &str, k: usize) -> Result<()> {
    if k == 0 || k.is_multiple_of(2) {
        return Err(Error::invalid(
            format!("{path}.kernel"),
            format!("kernel must be odd and positive (got {k})"),
        ));
    }
    Ok(())
}

pub(crate) fn check_stride(path: &str, s: usize) -> Result<()> {
    if s != 1 && s != 2 {
        return Err(Error::invalid(
            format!("{path}.stride"),
            format!("stride must be 1 or 2 (got {s})"),
        ));
    }
    Ok(())
}

pub(crate) fn check_expansion(path: &str, e: f64) -> Result<()> {
    if !(e.is_finite() && e > 0.0) {
        return Err(Error::invalid(
            path.to_string(),
            format!("expansion must be a positive number (got {e})"),
        ));
    }
    Ok(())
}

pub(crate) fn check_dropout(d: f64) -> Result<()> {
    if !(0.0..1.0).contains(&d) {
        return Err(Error::invalid(
            "$.dropout",
            format!("dropout must be in [0, 1) (got {d})"),
        ));
    }
    Ok(())
}

impl Arch {
    /// Validate the document and resolve every width.
    pub fn layout(&self) -> Result<Layout> {
        if self.format != ARCH_FORMAT {
            return Err(Error::invalid(
                "$.format",
                format!("expected \"{ARCH_FORMAT}\", got \"{}\"", self.format),
            ));
        }
        check_positive("$", "input_size", self.input_size)?;
        check_positive("$", "in_channels", self.in_channels)?;
        check_positive("$", "num_classes", self.num_classes)?;
        check_positive("$", "width_divisor", self.width_divisor)?;
        check_positive("$.stem", "out", self.stem.out)?;
        check_kernel("$.stem", self.stem.kernel)?;
        check_stride("$.stem", self.stem.stride)?;
        check_dropout(self.dropout)?;
        let d = self.width_divisor;
        let mut c_in = self.stem.out;
        let mut blocks = Vec::with_capacity(self.blocks.len());
        for (i, b) in self.blocks.iter().enumerate() {
            let path = format!("$.blocks[{i}]");
            check_positive(&path, "out", b.out)?;
            check_stride(&path, b.stride)?;
            let layout = match b.op {
                BlockOp::Skip => skip_layout(&path, b, c_in)?,
                BlockOp::Ir => ir_layout(&path, b, c_in, d)?,
            };
            c_in = layout.c_out();
            blocks.push(layout);
        }
        self.head.check()?;
        Ok(Layout {
            in_channels: self.in_channels,
            num_classes: self.num_classes,
            stem_out: self.stem.out,
            stem_kernel: self.stem.kernel,
            stem_stride: self.stem.stride,
            stem_act: self.stem.act,
            stem_bias: self.stem.bias,
            blocks,
            head: HeadLayout {
                op: self.head.op,
                c_in,
                mid: self.head.mid(c_in, d),
                out: self.head.out,
                act: self.head.act,
            },
            dropout: self.dropout,
        })
    }
}

/// A skip block on `c_in` channels: identity, or a 1×1 projection where the width or
/// stride changes (an activation only there).
fn skip_layout(path: &str, b: &Block, c_in: usize) -> Result<BlockLayout> {
    for (name, present) in [
        ("kernel", b.kernel.is_some()),
        ("expansion", b.expansion.is_some()),
        ("mid", b.mid.is_some()),
        ("se", b.se.is_some()),
        ("act", b.act.is_some() && c_in == b.out && b.stride == 1),
    ] {
        if present {
            return Err(Error::invalid(
                format!("{path}.{name}"),
                if name == "act" {
                    "not allowed on an identity skip (same width, stride 1)"
                } else {
                    "not allowed on a skip block"
                },
            ));
        }
    }
    Ok(BlockLayout::Skip {
        c_in,
        c_out: b.out,
        stride: b.stride,
        act: b.act.unwrap_or_default(),
    })
}

/// An inverted-residual block on `c_in` channels: its kernel, and its hidden width from
/// exactly one of `mid` and `expansion` (rounded to the divisor `d`).
fn ir_layout(path: &str, b: &Block, c_in: usize, d: usize) -> Result<BlockLayout> {
    let kernel = b.kernel.ok_or_else(|| {
        Error::invalid(format!("{path}.kernel"), "missing field (required for ir)")
    })?;
    check_kernel(path, kernel)?;
    let mid = match (b.mid, b.expansion) {
        (Some(m), None) => {
            check_positive(path, "mid", m)?;
            m
        }
        (None, Some(e)) => {
            check_expansion(&format!("{path}.expansion"), e)?;
            divisible(c_in as f64 * e, d)
        }
        _ => {
            return Err(Error::invalid(
                path,
                "an ir block needs exactly one of `mid` and `expansion`",
            ));
        }
    };
    Ok(BlockLayout::Ir(IrLayout {
        c_in,
        mid,
        c_out: b.out,
        kernel,
        stride: b.stride,
        se: b.se.unwrap_or(false).then(|| se_hidden(mid, d)),
        act: b.act.unwrap_or_default(),
    }))
}
