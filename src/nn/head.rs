//! The head (`ir_pool` or `conv`) and the classifier.

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::tensor::{Device, Tensor};

use super::act::Act;
use super::conv_bn::{ConvBnAct, ConvBnActConfig};
use super::se::global_pool;
use crate::arch::HeadOp;
use crate::kernels::pointwise_conv2d;

/// Configuration of a [`Head`].
#[derive(Config, Debug)]
pub struct HeadConfig {
    /// Head kind.
    pub op: HeadOp,
    /// Input channels.
    pub c_in: usize,
    /// Width before the pool (output of the 1×1 conv `pw`).
    pub mid: usize,
    /// `ir_pool`: width of the post-pool 1×1 conv (unused by `conv`).
    pub out: usize,
    /// Classifier outputs.
    pub num_classes: usize,
    /// Activation of the head's convs.
    pub act: Act,
    /// Dropout probability before the classifier (default 0).
    #[config(default = 0.0)]
    pub dropout: f64,
}

/// `ir_pool`: [1×1 expand → BN → act] → pool → 1×1 conv → act → dropout → linear;
/// `conv`: 1×1 conv → BN → act → pool → dropout → linear.
#[derive(Module, Debug)]
pub struct Head {
    /// The 1×1 conv → BN → act before the pool (always in `conv`; in `ir_pool` only where
    /// mid != c_in).
    pub pw: Option<ConvBnAct>,
    /// `ir_pool`'s post-pool 1×1 conv.
    pub conv: Option<Conv2d>,
    /// Dropout before the classifier.
    pub dropout: Dropout,
    /// The linear classifier (with bias).
    pub classifier: Linear,
    /// Activation after `ir_pool`'s post-pool 1×1 conv.
    #[module(skip)]
    pub act: Act,
}

impl HeadConfig {
    /// Build the head on `device`.
    pub fn init(&self, device: &Device) -> Head {
        Head {
            pw: (self.op == HeadOp::Conv || self.mid != self.c_in).then(|| {
                ConvBnActConfig::new(self.c_in, self.mid)
                    .with_act(Some(self.act))
                    .init(device)
            }),
            conv: (self.op == HeadOp::IrPool).then(|| {
                Conv2dConfig::new([self.mid, self.out], [1, 1])
                    .with_bias(false)
                    .init(device)
            }),
            dropout: DropoutConfig::new(self.dropout).init(),
            classifier: LinearConfig::new(
                match self.op {
                    HeadOp::IrPool => self.out,
                    HeadOp::Conv => self.mid,
                },
                self.num_classes,
            )
            .init(device),
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
    /// hidden channels uses the first m inputs of the next layer).
    pub fn classify(&self, pooled: Tensor<4>) -> Tensor<2> {
        let m = pooled.dims()[1];
        let z = match &self.conv {
            Some(conv) if m == conv.weight.dims()[1] => self.act.forward(conv.forward(pooled)),
            Some(conv) => self
                .act
                .forward(pointwise_conv2d(pooled, conv.weight.val().narrow(1, 0, m))),
            None => pooled,
        };
        let z: Tensor<2> = self.dropout.forward(z.flatten(1, 3));
        let width = self.classifier.weight.dims()[0];
        if z.dims()[1] == width {
            self.classifier.forward(z)
        } else {
            let w = self.classifier.weight.val().narrow(0, 0, z.dims()[1]);
            let y = z.matmul(w);
            match &self.classifier.bias {
                Some(b) => y + b.val().unsqueeze(),
                None => y,
            }
        }
    }

    /// Logits [N, classes] of a feature map [N, c_in, H, W]: features → global pool → classify.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.classify(global_pool(self.features(x)))
    }
}
