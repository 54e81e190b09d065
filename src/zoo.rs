//! The FBNetV2 paper models as built-in architecture files, transcribed from
//! facebookresearch/mobile-vision (`fbnet_modeldef_cls_fbnetv2.py`).

use crate::arch::Arch;
use crate::error::{Error, Result};

/// Built-in models: name and JSON text.
pub const MODELS: &[(&str, &str)] = &[
    ("fbnetv2_f1", include_str!("../zoo/fbnetv2_f1.json")),
    ("fbnetv2_f2", include_str!("../zoo/fbnetv2_f2.json")),
    ("fbnetv2_f3", include_str!("../zoo/fbnetv2_f3.json")),
    ("fbnetv2_f4", include_str!("../zoo/fbnetv2_f4.json")),
    ("fbnetv2_l1", include_str!("../zoo/fbnetv2_l1.json")),
    ("fbnetv2_l2", include_str!("../zoo/fbnetv2_l2.json")),
];

/// A zoo model by name (`fbnetv2_f4`, `FBNetV2-F4` and `f4` all work).
pub fn get(name: &str) -> Result<Arch> {
    let key = name.to_ascii_lowercase().replace('-', "_");
    let key = if key.starts_with("fbnetv2_") {
        key
    } else {
        format!("fbnetv2_{key}")
    };
    let (_, text) = MODELS.iter().find(|(n, _)| *n == key).ok_or_else(|| {
        let names: Vec<&str> = MODELS.iter().map(|(n, _)| *n).collect();
        Error::Unknown(format!(
            "unknown zoo model `{name}`; available: {}",
            names.join(", ")
        ))
    })?;
    Arch::from_json(text)
}
