//! Squeeze-excitation with a hard-sigmoid gate.

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor};

use super::act::{Act, hard_sigmoid};

/// Configuration of a [`SqueezeExcite`] on `channels` with `hidden` squeezed channels.
#[derive(Config, Debug)]
pub struct SqueezeExciteConfig {
    /// Input channels (and channels of the gate).
    pub channels: usize,
    /// Squeezed (hidden) channels.
    pub hidden: usize,
    /// Activation between the two 1×1 convs.
    pub act: Act,
}

/// x · hsigmoid(W₂ act(W₁ pool(x) + b₁) + b₂).
#[derive(Module, Debug)]
pub struct SqueezeExcite {
    /// 1×1 conv channels → hidden (with bias).
    pub reduce: Conv2d,
    /// 1×1 conv hidden → channels (with bias).
    pub expand: Conv2d,
    /// Activation after `reduce`.
    #[module(skip)]
    pub act: Act,
}

impl SqueezeExciteConfig {
    /// Build the layer on `device`.
    pub fn init(&self, device: &Device) -> SqueezeExcite {
        SqueezeExcite {
            reduce: Conv2dConfig::new([self.channels, self.hidden], [1, 1]).init(device),
            expand: Conv2dConfig::new([self.hidden, self.channels], [1, 1]).init(device),
            act: self.act,
        }
    }
}

/// Global average pool to [N, C, 1, 1].
pub fn global_pool(x: Tensor<4>) -> Tensor<4> {
    crate::kernels::plane_mean(x)
}

impl SqueezeExcite {
    /// x · gate(x); `hidden_mask` ([1, hidden, 1, 1]) zeroes the squeezed channels beyond a
    /// searched width.
    pub fn forward(&self, x: Tensor<4>, hidden_mask: Option<&Tensor<4>>) -> Tensor<4> {
        crate::kernels::plane_scale(x.clone(), self.gate(x, hidden_mask))
    }

    /// The gate [N, C, 1, 1]: hsigmoid(W₂ (M ⊙ act(W₁ pool(x) + b₁)) + b₂).
    pub fn gate(&self, x: Tensor<4>, hidden_mask: Option<&Tensor<4>>) -> Tensor<4> {
        let s = self.act.forward(self.reduce.forward(global_pool(x)));
        let s = match hidden_mask {
            Some(m) => s * m.clone(),
            None => s,
        };
        hard_sigmoid(self.expand.forward(s))
    }

    /// SE cut to x's channels and the first `hidden` squeezed channels (a supernet path):
    /// the values of [`forward`](Self::forward) under a one-hot hidden mask.
    pub fn forward_sliced(&self, x: Tensor<4>, hidden: usize) -> Tensor<4> {
        let c = x.dims()[1];
        let conv = |layer: &Conv2d, out: usize, inp: usize, z: Tensor<4>| {
            conv2d(
                z,
                layer.weight.val().narrow(0, 0, out).narrow(1, 0, inp),
                layer.bias.as_ref().map(|b| b.val().narrow(0, 0, out)),
                ConvOptions::new([1, 1], [0, 0], [1, 1], 1),
            )
        };
        let s = self
            .act
            .forward(conv(&self.reduce, hidden, c, global_pool(x.clone())));
        crate::kernels::plane_scale(x, hard_sigmoid(conv(&self.expand, c, hidden, s)))
    }
}
