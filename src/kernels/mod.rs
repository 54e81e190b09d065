//! Our own CPU kernels for the supernet's hot ops, routed by backend.
//!
//! Each op here has one entry point that model code calls with ordinary `Tensor`s. On the
//! Flex backend (plain or under autodiff) it runs our kernel through Burn's backend
//! extension, with a hand-written backward; on every other backend (ndarray, wgpu, cuda,
//! or a backend that only records the graph) it runs Burn's standard op. A backend
//! extension called on a backend it does not list panics, so the route is chosen from the
//! tensors' device, never assumed.

#[cfg(feature = "flex")]
mod add_scaled_flex;
#[cfg(feature = "flex")]
mod batch_norm_flex;
#[cfg(feature = "flex")]
mod bn_into_flex;
#[cfg(feature = "flex")]
mod channels_flex;
#[cfg(feature = "flex")]
mod depthwise_flex;
#[cfg(feature = "flex")]
mod flex_support;
#[cfg(feature = "flex")]
mod lattice_flex;
#[cfg(feature = "flex")]
mod planes_flex;
#[cfg(feature = "flex")]
mod pointwise_flex;

use burn::nn::BatchNorm;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{IndexingUpdateOp, Int, Tensor};

use crate::arch::Act;

/// Depthwise 2-D convolution: `y[n,c] = x[n,c] ⋆ w[c,0]` with stride s and zero padding p on
/// every side; `weight` is [C, 1, k, k], no bias.
pub fn depthwise_conv2d(
    x: Tensor<4>,
    weight: Tensor<4>,
    stride: usize,
    padding: usize,
) -> Tensor<4> {
    #[cfg(feature = "flex")]
    if depthwise_flex::supports(&x, &weight) {
        return depthwise_flex::depthwise_conv2d(x, weight, stride, padding);
    }
    reference_depthwise_conv2d(x, weight, stride, padding)
}

/// The same op through Burn's standard grouped convolution (the fallback, and the
/// reference the kernels are tested against).
pub fn reference_depthwise_conv2d(
    x: Tensor<4>,
    weight: Tensor<4>,
    stride: usize,
    padding: usize,
) -> Tensor<4> {
    let c = weight.dims()[0];
    conv2d(
        x,
        weight,
        None,
        ConvOptions::new([stride, stride], [padding, padding], [1, 1], c),
    )
}

/// x [N, C_x, H, W] zero-padded on the channel dimension to [N, c, H, W] (c ≥ C_x).
pub fn pad_channels(x: Tensor<4>, c: usize) -> Tensor<4> {
    #[cfg(feature = "flex")]
    if flex_support::on_flex_f32(&x) {
        return channels_flex::pad_channels(x, c);
    }
    reference_pad_channels(x, c)
}

/// The same through Burn's `zeros` and `cat`.
pub fn reference_pad_channels(x: Tensor<4>, c: usize) -> Tensor<4> {
    let [n, c_x, h, w] = x.dims();
    let pad = Tensor::zeros([n, c - c_x, h, w], &x.device());
    Tensor::cat(vec![x, pad], 1)
}

/// y + p · fit(x): x [N, C_x, H, W] zero-padded or cut to y's C channels, times the
/// scalar p (shape `[1]`), added to y [N, C, H, W]; a path present with probability p added to a
/// layer's output. One parallel pass on Flex (in place when y's buffer is not shared);
/// three ops elsewhere.
pub fn add_scaled(y: Tensor<4>, x: Tensor<4>, p: Tensor<1>) -> Tensor<4> {
    #[cfg(feature = "flex")]
    if add_scaled_flex::supports(&y, &x, &p) {
        return add_scaled_flex::add_scaled(y, x, p);
    }
    reference_add_scaled(y, x, p)
}

/// Whether [`add_scaled`] runs our kernel for these tensors (rather than the fallback).
pub fn uses_own_add_scaled(y: &Tensor<4>, x: &Tensor<4>, p: &Tensor<1>) -> bool {
    #[cfg(feature = "flex")]
    {
        add_scaled_flex::supports(y, x, p)
    }
    #[cfg(not(feature = "flex"))]
    {
        let _ = (y, x, p);
        false
    }
}

/// The same through Burn's ops.
pub fn reference_add_scaled(y: Tensor<4>, x: Tensor<4>, p: Tensor<1>) -> Tensor<4> {
    let c = y.dims()[1];
    let c_x = x.dims()[1];
    let x = if c_x > c {
        x.narrow(1, 0, c)
    } else if c_x < c {
        reference_pad_channels(x, c)
    } else {
        x
    };
    y + x * p.reshape([1, 1, 1, 1])
}

/// The mean of each (n, c) plane of x [N, C, H, W], as [N, C, 1, 1] (global average
/// pooling): one parallel pass on Flex, two `mean_dim`s elsewhere.
pub fn plane_mean(x: Tensor<4>) -> Tensor<4> {
    #[cfg(feature = "flex")]
    if flex_support::on_flex_f32(&x) {
        return planes_flex::plane_mean(x);
    }
    reference_plane_mean(x)
}

/// The same through Burn's `mean_dim`.
pub fn reference_plane_mean(x: Tensor<4>) -> Tensor<4> {
    x.mean_dim(3).mean_dim(2)
}

/// x [N, C, H, W] with each (n, c) plane times f[n, c] (f [N, C, 1, 1]; a gate or a
/// per-sample channel scale): one parallel pass on Flex, a broadcast multiply elsewhere.
pub fn plane_scale(x: Tensor<4>, f: Tensor<4>) -> Tensor<4> {
    #[cfg(feature = "flex")]
    if planes_flex::supports_scale(&x, &f) {
        return planes_flex::plane_scale(x, f);
    }
    reference_plane_scale(x, f)
}

/// Whether [`plane_mean`] and [`plane_scale`] run our kernels for these tensors (x, and
/// f where given) rather than the fallbacks.
pub fn uses_own_plane_ops(x: &Tensor<4>, f: Option<&Tensor<4>>) -> bool {
    #[cfg(feature = "flex")]
    {
        flex_support::on_flex_f32(x) && f.is_none_or(|f| planes_flex::supports_scale(x, f))
    }
    #[cfg(not(feature = "flex"))]
    {
        let _ = (x, f);
        false
    }
}

/// The same through Burn's broadcast multiply.
pub fn reference_plane_scale(x: Tensor<4>, f: Tensor<4>) -> Tensor<4> {
    x * f
}

/// The resolution lattice's subsample: y[n, c, u, v] = x[n, c, p_u, p_v] for the distinct
/// `positions` p of both axes (`index`: the same positions as a tensor, for the fallback).
pub fn lattice_gather(x: Tensor<4>, positions: &[usize], index: &Tensor<1, Int>) -> Tensor<4> {
    #[cfg(feature = "flex")]
    if flex_support::on_flex_f32(&x) {
        return lattice_flex::lattice_gather(x, positions);
    }
    let _ = positions;
    reference_lattice_gather(x, index)
}

/// The same through Burn's `select`.
pub fn reference_lattice_gather(x: Tensor<4>, index: &Tensor<1, Int>) -> Tensor<4> {
    x.select(2, index.clone()).select(3, index.clone())
}

/// The adjoint of [`lattice_gather`]: y [N, C, r, r] onto a [N, C, full, full] grid of
/// zeros at the positions.
pub fn lattice_scatter(
    y: Tensor<4>,
    positions: &[usize],
    index: &Tensor<1, Int>,
    full: usize,
) -> Tensor<4> {
    #[cfg(feature = "flex")]
    if flex_support::on_flex_f32(&y) {
        return lattice_flex::lattice_scatter(y, positions, full);
    }
    let _ = positions;
    reference_lattice_scatter(y, index, full)
}

/// The same through Burn's `select_assign` into zeros.
pub fn reference_lattice_scatter(y: Tensor<4>, index: &Tensor<1, Int>, full: usize) -> Tensor<4> {
    let [n, c, r, _] = y.dims();
    let device = y.device();
    let cols = Tensor::zeros([n, c, r, full], &device).select_assign(
        3,
        index.clone(),
        y,
        IndexingUpdateOp::Add,
    );
    Tensor::zeros([n, c, full, full], &device).select_assign(
        2,
        index.clone(),
        cols,
        IndexingUpdateOp::Add,
    )
}

/// Pointwise convolution: `y[n,o] = Σ_i w[o,i] · x[n,i]` (1×1, stride 1, no bias);
/// `weight` is [C_out, C_in, 1, 1].
pub fn pointwise_conv2d(x: Tensor<4>, weight: Tensor<4>) -> Tensor<4> {
    #[cfg(feature = "flex")]
    if pointwise_flex::supports(&x, &weight) {
        return pointwise_flex::pointwise_conv2d(x, weight);
    }
    reference_pointwise_conv2d(x, weight)
}

/// The same op through Burn's standard convolution.
pub fn reference_pointwise_conv2d(x: Tensor<4>, weight: Tensor<4>) -> Tensor<4> {
    conv2d(x, weight, None, ConvOptions::new([1, 1], [0, 0], [1, 1], 1))
}

/// Whether [`pointwise_conv2d`] runs our kernel for these tensors.
pub fn uses_own_pointwise(x: &Tensor<4>, weight: &Tensor<4>) -> bool {
    #[cfg(feature = "flex")]
    {
        pointwise_flex::supports(x, weight)
    }
    #[cfg(not(feature = "flex"))]
    {
        let _ = (x, weight);
        false
    }
}

/// Whether [`depthwise_conv2d`] runs our kernel for these tensors (rather than the
/// fallback): Flex, f32, a square [C, 1, k, k] kernel over C input channels.
pub fn uses_own_depthwise(x: &Tensor<4>, weight: &Tensor<4>) -> bool {
    #[cfg(feature = "flex")]
    {
        depthwise_flex::supports(x, weight)
    }
    #[cfg(not(feature = "flex"))]
    {
        let _ = (x, weight);
        false
    }
}

/// Batch normalisation of x's w channels by the first w channels of `bn` (w ≤ the layer's
/// width; all of them for a full layer, as `BatchNorm::forward`). In training (an autodiff
/// device and the layer's training flag): y = γ (x − μ_B) / √(σ²_B + ε) + β with the
/// batch's statistics, which also update the first w running ones (r ← (1 − m) r + m s);
/// else the running statistics.
pub fn batch_norm(bn: &BatchNorm, x: Tensor<4>) -> Tensor<4> {
    batch_norm_act(bn, x, Act::None, None)
}

/// y = s · act(BN(x)): [`batch_norm`] followed by the activation and a per-channel scale
/// `s` of shape `[w]` (a channel mask), fused into one pass forward and one backward on
/// Flex in training; three ops elsewhere.
pub fn batch_norm_act(
    bn: &BatchNorm,
    x: Tensor<4>,
    act: Act,
    scale: Option<Tensor<1>>,
) -> Tensor<4> {
    let w = x.dims()[1];
    let (gamma, beta) = affine_of(bn, w);
    let device = x.device();
    if !(device.is_autodiff() && bn.training.is_enabled()) {
        let stat = |r: &burn::module::RunningState<Tensor<1>>| {
            r.value().to_device(&device).narrow(0, 0, w)
        };
        let (mean, var) = (stat(&bn.running_mean), stat(&bn.running_var));
        let y = burn::tensor::module::batch_norm(x, gamma, beta, mean, var, bn.epsilon);
        return act_scale(y, act, scale);
    }
    let (y, mean, var) = batch_norm_act_train(x, gamma, beta, bn.epsilon, act, scale);
    update_running(bn, mean, var);
    y
}

/// The convolution that reads a batch norm's output in [`batch_norm_act_into`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NextConv {
    /// [`depthwise_conv2d`].
    Depthwise {
        /// Its stride.
        stride: usize,
        /// Its zero padding on every side.
        padding: usize,
    },
    /// [`pointwise_conv2d`].
    Pointwise,
}

/// `next(batch_norm_act(bn, x, act, scale), weight)`. On Flex in training, where the
/// kernels of both apply, one op whose convolution maps its input through BN, the
/// activation and the scale as it reads it, so that BN's output is neither written nor
/// kept for the backward pass (the same values and gradients, bit for bit); elsewhere the
/// two ops.
pub fn batch_norm_act_into(
    bn: &BatchNorm,
    x: Tensor<4>,
    act: Act,
    scale: Option<Tensor<1>>,
    weight: Tensor<4>,
    next: NextConv,
) -> Tensor<4> {
    #[cfg(feature = "flex")]
    if uses_own_batch_norm(bn, &x)
        && match next {
            NextConv::Depthwise { .. } => depthwise_flex::supports(&x, &weight),
            NextConv::Pointwise => pointwise_flex::supports(&x, &weight),
        }
    {
        let w = x.dims()[1];
        let (gamma, beta) = affine_of(bn, w);
        let (stats, mean, var) = flex_batch_stats(&x);
        let scale = scale.unwrap_or_else(|| Tensor::ones([w], &x.device()));
        let z = bn_into_flex::batch_norm_act_into(
            x, gamma, beta, scale, stats, bn.epsilon, act, weight, next,
        );
        update_running(bn, mean, var);
        return z;
    }
    let y = batch_norm_act(bn, x, act, scale);
    match next {
        NextConv::Depthwise { stride, padding } => depthwise_conv2d(y, weight, stride, padding),
        NextConv::Pointwise => pointwise_conv2d(y, weight),
    }
}

/// x's batch statistics from our kernel: [2, C] (mean, then biased variance), and each row.
#[cfg(feature = "flex")]
fn flex_batch_stats(x: &Tensor<4>) -> (Tensor<2>, Tensor<1>, Tensor<1>) {
    let w = x.dims()[1];
    let stats = batch_norm_flex::batch_stats(x.clone());
    let row = |i| stats.clone().narrow(0, i, 1).reshape([w]);
    let (mean, var) = (row(0), row(1));
    (stats, mean, var)
}

/// γ and β of `bn`'s first w channels.
fn affine_of(bn: &BatchNorm, w: usize) -> (Tensor<1>, Tensor<1>) {
    let (gamma, beta) = (bn.gamma.val(), bn.beta.val());
    if w == bn.gamma.dims()[0] {
        (gamma, beta)
    } else {
        (gamma.narrow(0, 0, w), beta.narrow(0, 0, w))
    }
}

/// r ← (1 − m) r + m s on the first w running statistics of `bn` (w: the batch's).
fn update_running(bn: &BatchNorm, mean: Tensor<1>, var: Tensor<1>) {
    let w = mean.dims()[0];
    let full = bn.gamma.dims()[0];
    let m = bn.momentum;
    let device = mean.device();
    for (running, batch) in [(&bn.running_mean, mean), (&bn.running_var, var)] {
        let all = running.value_sync().to_device(&device);
        let first = all
            .clone()
            .narrow(0, 0, w)
            .mul_scalar(1.0 - m)
            .add(batch.mul_scalar(m));
        let value = if w == full {
            first
        } else {
            all.slice_assign(0..w, first)
        };
        running.update(value.detach());
    }
}

/// s · act(y) with Burn's ops.
fn act_scale(y: Tensor<4>, act: Act, scale: Option<Tensor<1>>) -> Tensor<4> {
    let y = act.forward(y);
    match scale {
        Some(s) => {
            let c = s.dims()[0];
            y * s.reshape([1, c, 1, 1])
        }
        None => y,
    }
}

/// Training-mode BN with the batch's statistics, then act and scale: (y, μ_B, σ²_B), the
/// statistics detached.
fn batch_norm_act_train(
    x: Tensor<4>,
    gamma: Tensor<1>,
    beta: Tensor<1>,
    epsilon: f64,
    act: Act,
    scale: Option<Tensor<1>>,
) -> (Tensor<4>, Tensor<1>, Tensor<1>) {
    #[cfg(feature = "flex")]
    if batch_norm_flex::supports(&x, &gamma) {
        let (stats, mean, var) = flex_batch_stats(&x);
        let y = batch_norm_flex::batch_norm_act_train(x, gamma, beta, scale, stats, epsilon, act);
        return (y, mean, var);
    }
    let r = burn::tensor::module::batch_norm_train(x, gamma, beta, epsilon);
    (
        act_scale(r.output, act, scale),
        r.mean.detach(),
        r.variance.detach(),
    )
}

/// Whether [`batch_norm`] runs our kernel: training mode on Flex with f32 values (else
/// Burn's `batch_norm_train` or, outside training, `batch_norm` with the running
/// statistics).
pub fn uses_own_batch_norm(bn: &BatchNorm, x: &Tensor<4>) -> bool {
    #[cfg(feature = "flex")]
    {
        x.device().is_autodiff()
            && bn.training.is_enabled()
            && batch_norm_flex::supports(x, &bn.gamma.val())
    }
    #[cfg(not(feature = "flex"))]
    {
        let _ = (bn, x);
        false
    }
}
