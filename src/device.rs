//! Backend selection at run time (`--device cpu | ndarray | wgpu | cuda`).

use burn::tensor::Device;

use crate::error::{Error, Result};

/// Backends this crate knows, and whether this build contains them.
pub const BACKENDS: &[(&str, bool)] = &[
    ("cpu", cfg!(feature = "flex")),
    ("ndarray", cfg!(feature = "ndarray")),
    ("wgpu", cfg!(feature = "wgpu")),
    ("cuda", cfg!(feature = "cuda")),
];

/// The device for a backend name; `cpu` (alias `flex`) is Burn's pure-Rust Flex backend.
pub fn device(name: &str) -> Result<Device> {
    match name {
        "cpu" | "flex" => {
            #[cfg(feature = "flex")]
            return Ok(Device::flex());
            #[cfg(not(feature = "flex"))]
            return Err(Error::BackendMissing("flex".into()));
        }
        "ndarray" => {
            #[cfg(feature = "ndarray")]
            return Ok(Device::ndarray());
            #[cfg(not(feature = "ndarray"))]
            return Err(Error::BackendMissing("ndarray".into()));
        }
        "wgpu" => {
            #[cfg(feature = "wgpu")]
            return Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice));
            #[cfg(not(feature = "wgpu"))]
            return Err(Error::BackendMissing("wgpu".into()));
        }
        "cuda" => {
            #[cfg(feature = "cuda")]
            return Ok(Device::cuda(0usize));
            #[cfg(not(feature = "cuda"))]
            return Err(Error::BackendMissing("cuda".into()));
        }
        other => Err(Error::Unknown(format!(
            "unknown device `{other}`; expected one of cpu, ndarray, wgpu, cuda"
        ))),
    }
}

/// The first backend compiled into this build, in the order GPU before CPU.
pub fn default_name() -> &'static str {
    ["cuda", "wgpu", "cpu", "ndarray"]
        .into_iter()
        .find(|n| BACKENDS.iter().any(|(b, on)| b == n && *on))
        .unwrap_or("cpu")
}
