//! `conv → BatchNorm → [act]`, the unit every FBNetV2 layer is made of.

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor};

use super::act::Act;
use crate::kernels::{batch_norm_act, depthwise_conv2d, pointwise_conv2d};

/// Configuration of a [`ConvBnAct`].
#[derive(Config, Debug)]
pub struct ConvBnActConfig {
    /// Input channels.
    pub c_in: usize,
    /// Output channels.
    pub c_out: usize,
    /// Kernel size k of the k×k conv (default 1).
    #[config(default = 1)]
    pub kernel: usize,
    /// Stride (default 1).
    #[config(default = 1)]
    pub stride: usize,
    /// Conv groups (default 1; `c` for a depthwise conv on `c` channels).
    #[config(default = 1)]
    pub groups: usize,
    /// The conv has a bias (default false).
    #[config(default = false)]
    pub bias: bool,
    /// `None`: no activation (the pwl projection).
    #[config(default = "None")]
    pub act: Option<Act>,
    /// Start the BN scale at 0 (the last BN of a residual block).
    #[config(default = false)]
    pub zero_gamma: bool,
}

/// y = act(BN(conv(x))), padding k/2.
#[derive(Module, Debug)]
pub struct ConvBnAct {
    /// The convolution.
    pub conv: Conv2d,
    /// The BatchNorm after the conv.
    pub bn: BatchNorm,
    /// The activation after BN (`None`: none).
    #[module(skip)]
    pub act: Option<Act>,
}

impl ConvBnActConfig {
    /// A depthwise k×k conv on `c` channels.
    pub fn depthwise(c: usize, kernel: usize, stride: usize, act: Act) -> Self {
        Self::new(c, c)
            .with_kernel(kernel)
            .with_stride(stride)
            .with_groups(c)
            .with_act(Some(act))
    }

    /// Build the layer on `device` (padding k/2; BN scale 0 with `zero_gamma`).
    pub fn init(&self, device: &Device) -> ConvBnAct {
        let p = self.kernel / 2;
        let conv = Conv2dConfig::new([self.c_in, self.c_out], [self.kernel, self.kernel])
            .with_stride([self.stride, self.stride])
            .with_groups(self.groups)
            .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
            .with_bias(self.bias)
            .init(device);
        let mut bn = BatchNormConfig::new(self.c_out).init(device);
        if self.zero_gamma {
            // `zeros_like` is a new, untracked tensor: without the parameter's own
            // require-grad flag the scale would stay 0 for good and the block's branch
            // would never train.
            bn.gamma = bn.gamma.map(|g| {
                let tracked = g.is_require_grad();
                g.zeros_like().set_require_grad(tracked)
            });
        }
        ConvBnAct {
            conv,
            bn,
            act: self.act,
        }
    }
}

impl ConvBnAct {
    /// y = act(BN(conv(x))).
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.forward_masked(x, None, None)
    }

    /// y = s ⊙ act(BN(conv(x; W ⊙ M))): the kernel scaled elementwise by a mask M that
    /// broadcasts over it (a superkernel's mixed kernel-size mask [1, 1, k, k]), the output
    /// by a channel mask s [1, C, 1, 1] (BN, act and s are one fused op where our kernels
    /// run).
    pub fn forward_masked(
        &self,
        x: Tensor<4>,
        m: Option<&Tensor<4>>,
        s: Option<&Tensor<4>>,
    ) -> Tensor<4> {
        let c = &self.conv;
        let weight = match m {
            None => c.weight.val(),
            Some(m) => c.weight.val() * m.clone(),
        };
        let z = self.conv(x, weight, c.bias.as_ref().map(|b| b.val()));
        let scale = s.map(|s| {
            let c = s.dims()[1];
            s.clone().reshape([c])
        });
        batch_norm_act(&self.bn, z, self.act.unwrap_or(Act::None), scale)
    }

    /// The layer cut to one path of a supernet: x's channels in (the first ones of the
    /// layer's inputs), the first `c_out` filters out, the kernel cut to its centre
    /// `kernel` × `kernel`, and BN over those channels. Under a one-hot mask the full
    /// layer gives the same values on those channels and zeros elsewhere.
    pub fn forward_sliced(&self, x: Tensor<4>, c_out: usize, kernel: usize) -> Tensor<4> {
        let c = &self.conv;
        let k = c.kernel_size[0];
        let w = c.weight.val().narrow(0, 0, c_out);
        let w = if c.groups > 1 {
            w // depthwise: one input channel per filter
        } else {
            w.narrow(1, 0, x.dims()[1])
        };
        let off = (k - kernel) / 2;
        let w = if kernel < k {
            w.narrow(2, off, kernel).narrow(3, off, kernel)
        } else {
            w
        };
        let b = c.bias.as_ref().map(|b| b.val().narrow(0, 0, c_out));
        self.norm_act(self.conv(x, w, b))
    }

    /// The convolution with this layer's stride, padding k/2 and grouping (depthwise when
    /// the weight has one input channel per filter), routed to our kernels where they apply.
    fn conv(&self, x: Tensor<4>, weight: Tensor<4>, bias: Option<Tensor<1>>) -> Tensor<4> {
        let c = &self.conv;
        let [c_out, per_group, k, _] = weight.dims();
        let groups = if c.groups > 1 && per_group == 1 {
            c_out
        } else {
            c.groups
        };
        let depthwise = groups > 1 && per_group == 1;
        let pointwise = k == 1 && c.stride == [1, 1] && groups == 1;
        match bias {
            None if depthwise => depthwise_conv2d(x, weight, c.stride[0], k / 2),
            None if pointwise => pointwise_conv2d(x, weight),
            bias => conv2d(
                x,
                weight,
                bias,
                ConvOptions::new(c.stride, [k / 2, k / 2], c.dilation, groups),
            ),
        }
    }

    fn norm_act(&self, z: Tensor<4>) -> Tensor<4> {
        batch_norm_act(&self.bn, z, self.act.unwrap_or(Act::None), None)
    }
}
