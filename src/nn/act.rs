//! Activations of the FBNetV2 vocabulary.

use burn::tensor::{Tensor, activation};

pub use crate::arch::Act;

impl Act {
    /// relu(x), hswish(x) = x · relu6(x + 3) / 6, or x.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        match self {
            Act::Relu => activation::relu(x),
            Act::Hswish => activation::hard_swish(x),
            Act::None => x,
        }
    }
}

/// hsigmoid(x) = relu6(x + 3) / 6, the gate of squeeze-excitation.
pub fn hard_sigmoid<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    activation::hard_sigmoid(x, 1.0 / 6.0, 0.5)
}
