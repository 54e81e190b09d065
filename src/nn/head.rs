//! The `ir_pool` head and the classifier.

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::tensor::{Device, Tensor};

use super::act::Act;
use super::conv_bn::{ConvBnAct, ConvBnActConfig};
use super::se::global_pool;
use crate::kernels::pointwise_conv2d;

/// Configuration of a [`Head`].
#[derive(Config, Debug)]
pub struct HeadConfig {
    pub c_in: usize,
    pub mid: usize,
    pub out: usize,
    pub num_classes: usize,
    pub act: Act,
    #[config(default = 0.0)]
    pub dropout: f64,
}

/// [1×1 expand → BN → act] → pool → 1×1 conv → act → pool → dropout → linear.
#[derive(Module, Debug)]
pub struct Head {
    pub pw: Option<ConvBnAct>,
    pub conv: Conv2d,
    pub dropout: Dropout,
    pub classifier: Linear,
    #[module(skip)]
    pub act: Act,
}

impl HeadConfig {
    pub fn init(&self, device: &Device) -> Head {
        Head {
            pw: (self.mid != self.c_in).then(|| {
                ConvBnActConfig::new(self.c_in, self.mid)
                    .with_act(Some(self.act))
                    .init(device)
            }),
            conv: Conv2dConfig::new([self.mid, self.out], [1, 1])
                .with_bias(false)
                .init(device),
            dropout: DropoutConfig::new(self.dropout).init(),
            classifier: LinearConfig::new(self.out, self.num_classes).init(device),
            act: self.act,
        }
    }
}

impl Head {
    /// The feature map before the global pool.
    pub fn features(&self, x: Tensor<4>) -> Tensor<4> {
        match &self.pw {
            Some(pw) => pw.forward(x),
            None => x,
        }
    }

    /// Logits from pooled features [N, m, 1, 1], m ≤ mid (a supernet path with fewer
    /// hidden channels uses the first m inputs of the 1×1 conv).
    pub fn classify(&self, pooled: Tensor<4>) -> Tensor<2> {
        let m = pooled.dims()[1];
        let z = if m == self.conv.weight.dims()[1] {
            self.conv.forward(pooled)
        } else {
            pointwise_conv2d(pooled, self.conv.weight.val().narrow(1, 0, m))
        };
        let z = self.act.forward(z);
        let z: Tensor<2> = z.flatten(1, 3);
        self.classifier.forward(self.dropout.forward(z))
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.classify(global_pool(self.features(x)))
    }
}
