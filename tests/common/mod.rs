//! The backend the engine equivalence tests run on.
#![allow(dead_code)] // each test file uses what it needs

use burn::tensor::Device;

/// `DMASKING_TEST_DEVICE`: cpu (default), ndarray, wgpu or cuda.
fn name() -> String {
    std::env::var("DMASKING_TEST_DEVICE").unwrap_or_else(|_| "cpu".into())
}

/// The backend under test, without autodiff.
pub fn plain_device() -> Device {
    dmasking::device::device(&name()).expect("DMASKING_TEST_DEVICE names a compiled backend")
}

/// Whether the backend under test is Flex, where our kernels must be taken.
pub fn on_flex() -> bool {
    matches!(name().as_str(), "cpu" | "flex")
}

/// Run the `dmasking` binary.
pub fn dmasking(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_dmasking"))
        .args(args)
        .output()
        .unwrap()
}

/// A path in the repository.
pub fn repo(p: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}
