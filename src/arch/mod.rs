//! Architecture files (`dmasking-arch/1`): parsing, validation, layout and I/O.

mod format;
mod layout;
mod scale;

pub use format::*;
pub(crate) use format::{default_true, default_width_divisor, is_true};
pub use layout::*;

use std::path::Path;

use crate::error::{Error, Result};

impl Arch {
    /// Parse and validate an architecture document.
    pub fn from_json(text: &str) -> Result<Self> {
        let arch: Arch = crate::json::parse(text)?;
        arch.layout()?;
        Ok(arch)
    }

    /// Read, parse and validate an architecture file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::from_json(&text)
    }

    /// A key that is equal for two architectures exactly when they describe the same
    /// network: every field but the name and the provenance (input size, stem, blocks,
    /// head, ...).
    pub fn network_key(&self) -> String {
        let network = Arch {
            name: None,
            provenance: None,
            ..self.clone()
        };
        serde_json::to_string(&network).expect("an Arch always serializes")
    }

    /// Pretty JSON, one block per line.
    pub fn to_json(&self) -> String {
        crate::json::pretty_with_inline_items(
            &serde_json::to_value(self).expect("an Arch always serializes"),
            "blocks",
        )
    }
}
