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
