//! `conv → BatchNorm → [act]`, the unit every FBNetV2 layer is made of.

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor};

use super::act::Act;
use crate::kernels::{
    NextConv, batch_norm_act, batch_norm_act_into, depthwise_conv2d, pointwise_conv2d,
};

/// How a [`ConvBnAct`]'s convolution runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    Depthwise,
    Pointwise,
    /// Burn's convolution with this many groups.
    General(usize),
}

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
        self.norm_act_scaled(self.conv_masked(x, m), s)
    }

    /// z = conv(x; W ⊙ M): the layer up to its BN (M as in [`Self::forward_masked`]).
    pub fn conv_masked(&self, x: Tensor<4>, m: Option<&Tensor<4>>) -> Tensor<4> {
        self.conv(x, self.masked_weight(m), self.bias())
    }

    /// y = s ⊙ act(BN(z)): the layer after its conv (s as in [`Self::forward_masked`]).
    pub fn norm_act_scaled(&self, z: Tensor<4>, s: Option<&Tensor<4>>) -> Tensor<4> {
        batch_norm_act(&self.bn, z, self.act.unwrap_or(Act::None), channels(s))
    }

    /// `next.conv_masked(self.norm_act_scaled(z, s), m)`: this layer's output, from its
    /// conv's output z, goes straight into `next`'s conv. Where `next` is a depthwise or
    /// pointwise conv without bias this is [`batch_norm_act_into`], which on Flex in
    /// training never writes this layer's output out.
    pub fn norm_act_into(
        &self,
        z: Tensor<4>,
        s: Option<&Tensor<4>>,
        next: &ConvBnAct,
        m: Option<&Tensor<4>>,
    ) -> Tensor<4> {
        let weight = next.masked_weight(m);
        let k = weight.dims()[2];
        let into = match next.route(&weight) {
            Route::Depthwise => Some(NextConv::Depthwise {
                stride: next.conv.stride[0],
                padding: k / 2,
            }),
            Route::Pointwise => Some(NextConv::Pointwise),
            Route::General(_) => None,
        };
        match into.filter(|_| next.conv.bias.is_none()) {
            Some(into) => {
                let act = self.act.unwrap_or(Act::None);
                batch_norm_act_into(&self.bn, z, act, channels(s), weight, into)
            }
            None => next.conv(self.norm_act_scaled(z, s), weight, next.bias()),
        }
    }

    /// The conv's weight, times `m` where given.
    fn masked_weight(&self, m: Option<&Tensor<4>>) -> Tensor<4> {
        let w = self.conv.weight.val();
        match m {
            None => w,
            Some(m) => w * m.clone(),
        }
    }

    fn bias(&self) -> Option<Tensor<1>> {
        self.conv.bias.as_ref().map(|b| b.val())
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
        self.norm_act_scaled(self.conv(x, w, b), None)
    }

    /// The convolution with this layer's stride, padding k/2 and grouping (depthwise when
    /// the weight has one input channel per filter), routed to our kernels where they apply.
    fn conv(&self, x: Tensor<4>, weight: Tensor<4>, bias: Option<Tensor<1>>) -> Tensor<4> {
        let c = &self.conv;
        let k = weight.dims()[2];
        match (self.route(&weight), bias) {
            (Route::Depthwise, None) => depthwise_conv2d(x, weight, c.stride[0], k / 2),
            (Route::Pointwise, None) => pointwise_conv2d(x, weight),
            (route, bias) => {
                let groups = match route {
                    Route::Depthwise => weight.dims()[0],
                    Route::Pointwise => 1,
                    Route::General(groups) => groups,
                };
                conv2d(
                    x,
                    weight,
                    bias,
                    ConvOptions::new(c.stride, [k / 2, k / 2], c.dilation, groups),
                )
            }
        }
    }

    /// How [`Self::conv`] runs `weight`: depthwise (a grouped layer, one input channel per
    /// filter, more than one filter), pointwise (1×1, stride 1, one group), or Burn's
    /// convolution with the layer's groups.
    fn route(&self, weight: &Tensor<4>) -> Route {
        let c = &self.conv;
        let [c_out, per_group, k, _] = weight.dims();
        let groups = if c.groups > 1 && per_group == 1 {
            c_out
        } else {
            c.groups
        };
        if groups > 1 && per_group == 1 {
            Route::Depthwise
        } else if k == 1 && c.stride == [1, 1] && groups == 1 {
            Route::Pointwise
        } else {
            Route::General(groups)
        }
    }
}

/// A channel mask [1, C, 1, 1] as the [C] scale the batch-norm kernels take.
fn channels(s: Option<&Tensor<4>>) -> Option<Tensor<1>> {
    s.map(|s| {
        let c = s.dims()[1];
        s.clone().reshape([c])
    })
}
