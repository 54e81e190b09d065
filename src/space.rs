//! Search-space files (`dmasking-space/1`, docs/SPACE_FORMAT.md).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::arch::{
    Act, Head, Stem, check_dropout, check_expansion, check_kernel, check_positive, check_stride,
    default_width_divisor,
};
use crate::error::{Error, Result};

/// The format tag of search-space files.
pub const SPACE_FORMAT: &str = "dmasking-space/1";

fn default_kernel() -> Vec<usize> {
    vec![3]
}
fn default_se() -> Vec<bool> {
    vec![false]
}
fn default_in_channels() -> usize {
    3
}
fn default_num_classes() -> usize {
    1000
}

/// A stage: `blocks` consecutive `ir` blocks, the first with `stride`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StageSpace {
    pub blocks: usize,
    pub stride: usize,
    /// Output-width options, one masked choice shared by the stage.
    pub out: Vec<usize>,
    /// Hidden-width (expansion) options, one masked choice per block.
    pub expansion: Vec<f64>,
    /// Kernel options (branch choice per block).
    #[serde(default = "default_kernel")]
    pub kernel: Vec<usize>,
    /// Squeeze-excitation options (branch choice per block).
    #[serde(default = "default_se")]
    pub se: Vec<bool>,
    /// Every block except the first may be dropped.
    #[serde(default)]
    pub skip: bool,
    #[serde(default)]
    pub act: Act,
}

/// A `dmasking-space/1` document.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Space {
    pub format: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub input_size: usize,
    /// Input-resolution options (one network-wide choice).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolutions: Option<Vec<usize>>,
    #[serde(default = "default_in_channels")]
    pub in_channels: usize,
    #[serde(default = "default_num_classes")]
    pub num_classes: usize,
    #[serde(default = "default_width_divisor")]
    pub width_divisor: usize,
    pub stem: Stem,
    pub stages: Vec<StageSpace>,
    pub head: Head,
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
        check_positive("$.stem", "out", self.stem.out)?;
        check_kernel("$.stem", self.stem.kernel)?;
        check_stride("$.stem", self.stem.stride)?;
        if self.stages.is_empty() {
            return Err(Error::invalid("$.stages", "needs at least one stage"));
        }
        for (s, st) in self.stages.iter().enumerate() {
            let p = format!("$.stages[{s}]");
            check_positive(&p, "blocks", st.blocks)?;
            check_stride(&p, st.stride)?;
            check_options(&format!("{p}.out"), &st.out)?;
            for (i, &o) in st.out.iter().enumerate() {
                check_positive(&format!("{p}.out"), &format!("[{i}]"), o)
                    .map_err(|_| Error::invalid(format!("{p}.out[{i}]"), "must be positive"))?;
            }
            check_options(&format!("{p}.expansion"), &st.expansion)?;
            for (i, &e) in st.expansion.iter().enumerate() {
                check_expansion(&format!("{p}.expansion[{i}]"), e)?;
            }
            check_options(&format!("{p}.kernel"), &st.kernel)?;
            for (i, &k) in st.kernel.iter().enumerate() {
                check_kernel(&format!("{p}.kernel[{i}]"), k).map_err(|e| match e {
                    Error::Invalid { message, .. } => {
                        Error::invalid(format!("{p}.kernel[{i}]"), message)
                    }
                    e => e,
                })?;
            }
            check_options(&format!("{p}.se"), &st.se)?;
        }
        check_expansion("$.head.expansion", self.head.expansion)?;
        check_positive("$.head", "out", self.head.out)?;
        check_dropout(self.dropout)
    }
}
