//! Training-mode batch normalisation fused with its activation and a channel scale, on
//! Flex, over NCHW planes.
//!
//! Burn's generic `batch_norm_train` and its backward lay the input out as [C, N·H·W] with
//! a transposed copy for each of their four per-channel reductions, and the activation
//! and the channel mask that follow are separate ops, each writing a full tensor forward
//! and backward (hard-swish is three: `x · hard_sigmoid(x)`). Here channel c's values are
//! its N contiguous H·W planes, read in place, and one pass does all three:
//!
//! - statistics: μ_c = mean(x[:, c]), σ²_c = mean((x[:, c] − μ_c)²) (biased), summed in f64;
//! - forward: z = γ_c (x − μ_c) / √(σ²_c + ε) + β_c, y = s_c · act(z) (s = 1 without a
//!   scale);
//! - backward, with x̂ = (x − μ) / √(σ² + ε), M = N·H·W and g_z = g · s_c · act'(z):
//!   ds_c = Σ g · act(z), dβ_c = Σ g_z, dγ_c = Σ g_z x̂,
//!   dx = γ_c / √(σ²_c + ε) · (g_z − dβ_c / M − x̂ dγ_c / M); z is recomputed from x.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, NodeGuard, Ops, OpsKind};
use burn::backend::autodiff::{Autodiff, NodeId};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, Flex, backend_extension};
use burn::tensor::{Tensor, TensorData};
use rayon::prelude::*;

use super::flex_support::{dims4, f32s, lane_sum, on_flex_f32, par_planes, wide_simd};
use crate::arch::Act;

/// The extension: batch statistics (not differentiated) and the normalisation with them,
/// followed by the activation, with or without a channel scale.
#[backend_extension(Flex, Autodiff)]
pub trait BatchNormOps: Backend {
    /// Per-channel batch mean and biased variance of x [N, C, H, W], as [2, C].
    fn batch_stats(x: FloatTensor<Self>) -> FloatTensor<Self>;
    /// y = act(γ (x − μ) / √(σ² + ε) + β) with `stats` = batch_stats(x); differentiated
    /// as training-mode BN (μ and σ² depend on x).
    fn batch_norm_act(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        stats: FloatTensor<Self>,
        epsilon: f64,
        act: Act,
    ) -> FloatTensor<Self>;
    /// y = s · act(γ (x − μ) / √(σ² + ε) + β), s a per-channel scale [C].
    fn batch_norm_act_scaled(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        scale: FloatTensor<Self>,
        stats: FloatTensor<Self>,
        epsilon: f64,
        act: Act,
    ) -> FloatTensor<Self>;
}

/// act(z) and act'(z), monomorphised per activation so that the loops vectorise.
trait Activation: Copy + Send + Sync {
    fn value(self, z: f32) -> f32;
    fn slope(self, z: f32) -> f32;
    /// [`Activation::value`] on 8 lanes, inlined into AVX2 code.
    ///
    /// # Safety
    /// The CPU has AVX2.
    #[cfg(target_arch = "x86_64")]
    unsafe fn value8(self, z: x86::__m256) -> x86::__m256;
    /// [`Activation::slope`] on 8 lanes, inlined into AVX2 code.
    ///
    /// # Safety
    /// The CPU has AVX2.
    #[cfg(target_arch = "x86_64")]
    unsafe fn slope8(self, z: x86::__m256) -> x86::__m256;
}

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64 as x86;

#[derive(Clone, Copy)]
struct Identity;
#[derive(Clone, Copy)]
struct Relu;
#[derive(Clone, Copy)]
struct HardSwish;

impl Activation for Identity {
    #[inline(always)]
    fn value(self, z: f32) -> f32 {
        z
    }
    #[inline(always)]
    fn slope(self, _: f32) -> f32 {
        1.0
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn value8(self, z: x86::__m256) -> x86::__m256 {
        z
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn slope8(self, _: x86::__m256) -> x86::__m256 {
        // SAFETY: the caller has AVX2 (this function's contract).
        unsafe { x86::_mm256_set1_ps(1.0) }
    }
}

impl Activation for Relu {
    #[inline(always)]
    fn value(self, z: f32) -> f32 {
        z.max(0.0)
    }
    #[inline(always)]
    fn slope(self, z: f32) -> f32 {
        if z > 0.0 { 1.0 } else { 0.0 }
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn value8(self, z: x86::__m256) -> x86::__m256 {
        // SAFETY: the caller has AVX2.
        unsafe { x86::_mm256_max_ps(z, x86::_mm256_setzero_ps()) }
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn slope8(self, z: x86::__m256) -> x86::__m256 {
        // SAFETY: the caller has AVX2.
        unsafe {
            let pos = x86::_mm256_cmp_ps::<{ x86::_CMP_GT_OQ }>(z, x86::_mm256_setzero_ps());
            x86::_mm256_and_ps(pos, x86::_mm256_set1_ps(1.0))
        }
    }
}

impl Activation for HardSwish {
    /// z · relu6(z + 3) / 6
    #[inline(always)]
    fn value(self, z: f32) -> f32 {
        z * (z + 3.0).clamp(0.0, 6.0) * (1.0 / 6.0)
    }
    /// 0 below −3, 1 above 3, (2z + 3) / 6 between.
    #[inline(always)]
    fn slope(self, z: f32) -> f32 {
        // Written as two selects, which vectorise.
        let mid = (2.0 * z + 3.0) * (1.0 / 6.0);
        let upper = if z > 3.0 { 1.0 } else { mid };
        if z < -3.0 { 0.0 } else { upper }
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn value8(self, z: x86::__m256) -> x86::__m256 {
        use x86::*;
        // SAFETY: the caller has AVX2.
        unsafe {
            let r6 = _mm256_min_ps(
                _mm256_max_ps(_mm256_add_ps(z, _mm256_set1_ps(3.0)), _mm256_setzero_ps()),
                _mm256_set1_ps(6.0),
            );
            _mm256_mul_ps(_mm256_mul_ps(z, r6), _mm256_set1_ps(1.0 / 6.0))
        }
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn slope8(self, z: x86::__m256) -> x86::__m256 {
        use x86::*;
        // SAFETY: the caller has AVX2.
        unsafe {
            let two_z = _mm256_mul_ps(_mm256_set1_ps(2.0), z);
            let mid = _mm256_mul_ps(
                _mm256_add_ps(two_z, _mm256_set1_ps(3.0)),
                _mm256_set1_ps(1.0 / 6.0),
            );
            let above = _mm256_cmp_ps::<{ _CMP_GT_OQ }>(z, _mm256_set1_ps(3.0));
            let below = _mm256_cmp_ps::<{ _CMP_LT_OQ }>(z, _mm256_set1_ps(-3.0));
            let upper = _mm256_blendv_ps(mid, _mm256_set1_ps(1.0), above);
            _mm256_andnot_ps(below, upper)
        }
    }
}

/// Run `f` with `act` as a monomorphised [`Activation`].
macro_rules! with_activation {
    ($act:expr, |$a:ident| $body:expr) => {
        match $act {
            Act::None => {
                let $a = Identity;
                $body
            }
            Act::Relu => {
                let $a = Relu;
                $body
            }
            Act::Hswish => {
                let $a = HardSwish;
                $body
            }
        }
    };
}

wide_simd! {
    /// One plane's Σ (x − k) and Σ (x − k)², shifted by k (a value of the channel) against
    /// cancellation.
    fn plane_moments(xp: &[f32], k: f32) -> (f32, f32) {
        let s1 = lane_sum(xp, xp, |x, _| x - k);
        let s2 = lane_sum(xp, xp, |x, _| (x - k) * (x - k));
        (s1, s2)
    }
}

wide_simd! {
    /// y = s · act(a x + b) over one plane.
    fn plane_forward<A: Activation>(yp: &mut [f32], xp: &[f32], a: f32, b: f32, s: f32, act: A) {
        for (o, &v) in yp.iter_mut().zip(xp) {
            *o = s * act.value(a * v + b);
        }
    }
}

/// One channel's z = a x + b, its mean μ and its scale s.
#[derive(Clone, Copy)]
struct SumCoef {
    a: f32,
    b: f32,
    mu: f32,
    s: f32,
}

/// One plane's Σ g·act(z), Σ g_z and Σ g_z (x − μ), z = a x + b, g_z = g · s · act'(z):
/// one AVX2 pass where the CPU has it, else [`plane_grad_sums_reference`].
fn plane_grad_sums<A: Activation>(xp: &[f32], gp: &[f32], c: SumCoef, act: A) -> (f32, f32, f32) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2.
        return unsafe { grad_sums_avx2(xp, gp, c, act) };
    }
    plane_grad_sums_reference(xp, gp, c, act)
}

wide_simd! {
    /// The three sums in three passes, each of which the compiler vectorises (one loop
    /// over all three stays scalar: measured 2026-12-05, the step 20 % slower).
    fn plane_grad_sums_reference<A: Activation>(xp: &[f32], gp: &[f32], c: SumCoef, act: A) -> (f32, f32, f32) {
        let SumCoef { a, b, mu, s } = c;
        let gz = |x: f32, g: f32| g * s * act.slope(a * x + b);
        (
            lane_sum(xp, gp, |x, g| g * act.value(a * x + b)),
            lane_sum(xp, gp, gz),
            lane_sum(xp, gp, |x, g| gz(x, g) * (x - mu)),
        )
    }
}

/// [`plane_grad_sums`] in one pass of 8-lane vectors: x and g loaded once, z and g_z
/// computed once. The lanes' partial sums are added in the order `lane_sum` adds them.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn grad_sums_avx2<A: Activation>(
    xp: &[f32],
    gp: &[f32],
    c: SumCoef,
    act: A,
) -> (f32, f32, f32) {
    use x86::*;
    let SumCoef { a, b, mu, s } = c;
    let n = xp.len().min(gp.len());
    let whole = n - n % 8;
    let (va, vb, vmu, vs) = (
        _mm256_set1_ps(a),
        _mm256_set1_ps(b),
        _mm256_set1_ps(mu),
        _mm256_set1_ps(s),
    );
    let (mut su, mut sg, mut sx) = (
        _mm256_setzero_ps(),
        _mm256_setzero_ps(),
        _mm256_setzero_ps(),
    );
    for i in (0..whole).step_by(8) {
        // SAFETY: i + 8 ≤ whole ≤ the length of both slices.
        let (x, g) = unsafe {
            (
                _mm256_loadu_ps(xp.as_ptr().add(i)),
                _mm256_loadu_ps(gp.as_ptr().add(i)),
            )
        };
        let z = _mm256_add_ps(_mm256_mul_ps(va, x), vb);
        // SAFETY: this function runs with AVX2.
        let (slope, value) = unsafe { (act.slope8(z), act.value8(z)) };
        let gz = _mm256_mul_ps(_mm256_mul_ps(g, vs), slope);
        su = _mm256_add_ps(su, _mm256_mul_ps(g, value));
        sg = _mm256_add_ps(sg, gz);
        sx = _mm256_add_ps(sx, _mm256_mul_ps(gz, _mm256_sub_ps(x, vmu)));
    }
    let lanes = |v: __m256| {
        let mut out = [0f32; 8];
        // SAFETY: out holds 8 floats.
        unsafe { _mm256_storeu_ps(out.as_mut_ptr(), v) };
        out.iter().sum::<f32>()
    };
    let (mut u, mut g_z, mut g_zx) = (lanes(su), lanes(sg), lanes(sx));
    for (&x, &g) in xp[whole..n].iter().zip(&gp[whole..n]) {
        let d = g * s * act.slope(a * x + b);
        u += g * act.value(a * x + b);
        g_z += d;
        g_zx += d * (x - mu);
    }
    (u, g_z, g_zx)
}

/// The coefficients of dx on one channel: dx = k (g_z − m_g) − q (x − μ).
#[derive(Clone, Copy)]
struct DxCoef {
    a: f32,
    b: f32,
    s: f32,
    k: f32,
    q: f32,
    m_g: f32,
    mu: f32,
}

wide_simd! {
    /// dx over one plane.
    fn plane_dx<A: Activation>(dp: &mut [f32], xp: &[f32], gp: &[f32], c: DxCoef, act: A) {
        for ((d, &xv), &gv) in dp.iter_mut().zip(xp).zip(gp) {
            let gz = gv * c.s * act.slope(c.a * xv + c.b);
            *d = c.k * (gz - c.m_g) - c.q * (xv - c.mu);
        }
    }
}

/// Per channel: μ_c, 1 / √(σ²_c + ε), and the affine map z = a_c x + b_c.
struct Affine {
    mean: Vec<f32>,
    inv: Vec<f32>,
    a: Vec<f32>,
    b: Vec<f32>,
}

impl Affine {
    fn new(stats: &FlexTensor, gamma: &[f32], beta: &[f32], epsilon: f64) -> Self {
        let c = gamma.len();
        let s = stats.to_contiguous();
        let v = f32s(&s);
        let mean = v[..c].to_vec();
        let inv: Vec<f32> = v[c..2 * c]
            .iter()
            .map(|&var| (1.0 / (var as f64 + epsilon).sqrt()) as f32)
            .collect();
        let a: Vec<f32> = (0..c).map(|ch| gamma[ch] * inv[ch]).collect();
        let b = (0..c).map(|ch| beta[ch] - mean[ch] * a[ch]).collect();
        Affine { mean, inv, a, b }
    }
}

fn forward(
    x: FlexTensor,
    gamma: FlexTensor,
    beta: FlexTensor,
    scale: Option<FlexTensor>,
    stats: FlexTensor,
    epsilon: f64,
    act: Act,
) -> FlexTensor {
    let shape = dims4(&x);
    let [_, c, h, w] = shape;
    let (gc, bc, xc) = (
        gamma.to_contiguous(),
        beta.to_contiguous(),
        x.to_contiguous(),
    );
    let f = Affine::new(&stats, f32s(&gc), f32s(&bc), epsilon);
    let sc = scale.map(|s| s.to_contiguous());
    let s: Option<&[f32]> = sc.as_ref().map(f32s);
    let xs = f32s(&xc);
    let hw = h * w;
    let y = with_activation!(act, |act| {
        par_planes(xs.len(), hw, |nc, yp| {
            let (ch, xp) = (nc % c, &xs[nc * hw..][..hw]);
            plane_forward(yp, xp, f.a[ch], f.b[ch], s.map_or(1.0, |s| s[ch]), act);
        })
    });
    FlexTensor::from_data(TensorData::new(y, shape))
}

impl BatchNormOps for Flex {
    fn batch_stats(x: FlexTensor) -> FlexTensor {
        let [n, c, h, w] = dims4(&x);
        let xc = x.to_contiguous();
        let xs = f32s(&xc);
        let hw = h * w;
        let m = (n * hw) as f64;
        let per: Vec<(f32, f32)> = (0..c)
            .into_par_iter()
            .map(|ch| {
                let plane = |b: usize| &xs[(b * c + ch) * hw..][..hw];
                let k = plane(0).first().copied().unwrap_or(0.0);
                let (s1, s2) = (0..n).fold((0f64, 0f64), |(s1, s2), b| {
                    let (t1, t2) = plane_moments(plane(b), k);
                    (s1 + t1 as f64, s2 + t2 as f64)
                });
                let d = s1 / m;
                let mean = k as f64 + d;
                let var = (s2 / m - d * d).max(0.0);
                (mean as f32, var as f32)
            })
            .collect();
        let mut out: Vec<f32> = per.iter().map(|p| p.0).collect();
        out.extend(per.iter().map(|p| p.1));
        FlexTensor::from_data(TensorData::new(out, [2, c]))
    }

    fn batch_norm_act(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        stats: FlexTensor,
        epsilon: f64,
        act: Act,
    ) -> FlexTensor {
        forward(x, gamma, beta, None, stats, epsilon, act)
    }

    fn batch_norm_act_scaled(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        scale: FlexTensor,
        stats: FlexTensor,
        epsilon: f64,
        act: Act,
    ) -> FlexTensor {
        forward(x, gamma, beta, Some(scale), stats, epsilon, act)
    }
}

/// What the backward pass keeps: the checkpointed x, γ, β (and scale), the batch
/// statistics, ε and the activation.
#[derive(Clone, Debug)]
struct State {
    x: NodeId,
    gamma: NodeId,
    beta: NodeId,
    scale: Option<NodeId>,
    stats: FlexTensor,
    epsilon: f64,
    act: Act,
}

/// The gradients one backward pass produces (dx and ds only where asked for).
pub(super) struct Grads {
    pub x: Option<FlexTensor>,
    pub gamma: FlexTensor,
    pub beta: FlexTensor,
    pub scale: Option<FlexTensor>,
}

fn backward(state: State, grad: FlexTensor, cp: &mut Checkpointer, need_x: bool) -> Grads {
    let x: FlexTensor = cp.retrieve_node_output(state.x);
    let gamma: FlexTensor = cp.retrieve_node_output(state.gamma);
    let beta: FlexTensor = cp.retrieve_node_output(state.beta);
    let scale: Option<FlexTensor> = state.scale.map(|id| cp.retrieve_node_output(id));
    let bn = Bn {
        stats: &state.stats,
        epsilon: state.epsilon,
        act: state.act,
    };
    grads(&x, gamma, beta, scale, bn, grad, need_x)
}

/// The batch statistics ([2, C]: mean, then biased variance), ε and the activation of one
/// y = s · act(BN(x)).
#[derive(Clone, Copy)]
pub(super) struct Bn<'a> {
    pub stats: &'a FlexTensor,
    pub epsilon: f64,
    pub act: Act,
}

/// y = s · act(BN(x)) one plane at a time, for an op that reads BN's output plane by plane
/// without it being written out (`(channel, x plane, y plane)`): the values of the forward
/// pass above, bit for bit.
pub(super) type Prologue = Box<dyn Fn(usize, &[f32], &mut [f32]) + Sync + Send>;

/// The [`Prologue`] of γ, β, the optional scale s and `bn`.
pub(super) fn prologue(
    gamma: &FlexTensor,
    beta: &FlexTensor,
    scale: Option<&FlexTensor>,
    bn: Bn,
) -> Prologue {
    let (gc, bc) = (gamma.to_contiguous(), beta.to_contiguous());
    let f = Affine::new(bn.stats, f32s(&gc), f32s(&bc), bn.epsilon);
    let s: Option<Vec<f32>> = scale.map(|s| f32s(&s.to_contiguous()).to_vec());
    with_activation!(bn.act, |act| {
        let p: Prologue = Box::new(move |ch: usize, xp: &[f32], yp: &mut [f32]| {
            let sc = s.as_ref().map_or(1.0, |s| s[ch]);
            plane_forward(yp, xp, f.a[ch], f.b[ch], sc, act);
        });
        p
    })
}

/// dL/dx (where `need_x`), dγ, dβ and ds (with a scale) of y = s · act(BN(x)), from g =
/// dL/dy.
pub(super) fn grads(
    x: &FlexTensor,
    gamma: FlexTensor,
    beta: FlexTensor,
    scale: Option<FlexTensor>,
    bn: Bn,
    grad: FlexTensor,
    need_x: bool,
) -> Grads {
    let shape = dims4(x);
    let [n, c, h, w] = shape;
    let hw = h * w;
    let m = (n * hw) as f64;
    let (xc, gc, gmc, bc) = (
        x.to_contiguous(),
        grad.to_contiguous(),
        gamma.to_contiguous(),
        beta.to_contiguous(),
    );
    let f = Affine::new(bn.stats, f32s(&gmc), f32s(&bc), bn.epsilon);
    let sc = scale.map(|s| s.to_contiguous());
    let s: Option<&[f32]> = sc.as_ref().map(f32s);
    let (xs, gs, gms) = (f32s(&xc), f32s(&gc), f32s(&gmc));
    with_activation!(bn.act, |act| {
        // Per channel: Σ g·act(z), Σ g_z and Σ g_z (x − μ).
        let sums: Vec<(f64, f64, f64)> = (0..c)
            .into_par_iter()
            .map(|ch| {
                let (a, b, mu, sc) = (f.a[ch], f.b[ch], f.mean[ch], s.map_or(1.0, |s| s[ch]));
                let (mut su, mut sg, mut sgx) = (0f64, 0f64, 0f64);
                for nb in 0..n {
                    let off = (nb * c + ch) * hw;
                    let (xp, gp) = (&xs[off..][..hw], &gs[off..][..hw]);
                    let (pu, pg, pgx) = plane_grad_sums(xp, gp, SumCoef { a, b, mu, s: sc }, act);
                    su += pu as f64;
                    sg += pg as f64;
                    sgx += pgx as f64;
                }
                (su, sg, sgx)
            })
            .collect();
        let beta_grad: Vec<f32> = sums.iter().map(|s| s.1 as f32).collect();
        let gamma_grad: Vec<f32> = sums
            .iter()
            .zip(&f.inv)
            .map(|(s, &i)| (s.2 * i as f64) as f32)
            .collect();
        let dx = need_x.then(|| {
            // dx = k_c (g_z − dβ_c / M) − q_c (x − μ_c), k_c = γ_c / √(σ²_c + ε),
            // q_c = k_c dγ_c / (M √(σ²_c + ε)).
            let k: Vec<f32> = (0..c).map(|ch| gms[ch] * f.inv[ch]).collect();
            let q: Vec<f32> = (0..c)
                .map(|ch| (k[ch] as f64 * gamma_grad[ch] as f64 * f.inv[ch] as f64 / m) as f32)
                .collect();
            let gmean: Vec<f32> = beta_grad.iter().map(|&v| (v as f64 / m) as f32).collect();
            let dx = par_planes(xs.len(), hw, |nc, dp| {
                let ch = nc % c;
                let (xp, gp) = (&xs[nc * hw..][..hw], &gs[nc * hw..][..hw]);
                let coef = DxCoef {
                    a: f.a[ch],
                    b: f.b[ch],
                    s: s.map_or(1.0, |s| s[ch]),
                    k: k[ch],
                    q: q[ch],
                    m_g: gmean[ch],
                    mu: f.mean[ch],
                };
                plane_dx(dp, xp, gp, coef, act);
            });
            FlexTensor::from_data(TensorData::new(dx, shape))
        });
        let scale = s.map(|_| {
            let v: Vec<f32> = sums.iter().map(|s| s.0 as f32).collect();
            FlexTensor::from_data(TensorData::new(v, [c]))
        });
        Grads {
            x: dx,
            gamma: FlexTensor::from_data(TensorData::new(gamma_grad, [c])),
            beta: FlexTensor::from_data(TensorData::new(beta_grad, [c])),
            scale,
        }
    })
}

/// The backward pass of the op with parents x, γ, β (N = 3) or x, γ, β, s (N = 4).
#[derive(Debug)]
struct BatchNormActBackward<const N: usize>;

impl<const N: usize> Backward<Flex, N> for BatchNormActBackward<N> {
    type State = State;

    fn backward(self, ops: Ops<State, N>, grads: &mut Gradients, cp: &mut Checkpointer) {
        let grad = grads.consume::<Flex>(&ops.node);
        let need_x = ops.parents[0].is_some();
        let g = backward(ops.state, grad, cp, need_x);
        let values = [g.x, Some(g.gamma), Some(g.beta), g.scale];
        for (node, value) in ops.parents.into_iter().zip(values) {
            if let (Some(node), Some(v)) = (node, value) {
                grads.register::<Flex>(node.id, v);
            }
        }
    }
}

/// y = s · act(BN(x)) on Flex, recorded for autodiff where any parent needs a gradient
/// (x, γ, β and s checkpointed for the backward pass).
#[allow(clippy::too_many_arguments)]
fn record<C: CheckpointStrategy, const N: usize>(
    parents: [NodeGuard; N],
    x: FloatTensor<Autodiff<Flex, C>>,
    gamma: FloatTensor<Autodiff<Flex, C>>,
    beta: FloatTensor<Autodiff<Flex, C>>,
    scale: Option<FloatTensor<Autodiff<Flex, C>>>,
    stats: FlexTensor,
    epsilon: f64,
    act: Act,
) -> FloatTensor<Autodiff<Flex, C>>
where
    BatchNormActBackward<N>: Backward<Flex, N, State = State>,
{
    let run = |x: FloatTensor<Autodiff<Flex, C>>,
               gamma: FloatTensor<Autodiff<Flex, C>>,
               beta: FloatTensor<Autodiff<Flex, C>>,
               scale: Option<FloatTensor<Autodiff<Flex, C>>>| {
        forward(
            x.into_primitive(),
            gamma.into_primitive(),
            beta.into_primitive(),
            scale.map(|s| s.into_primitive()),
            stats.clone(),
            epsilon,
            act,
        )
    };
    match BatchNormActBackward::<N>
        .prepare::<C>(parents)
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(mut prep) => {
            let state = State {
                x: prep.checkpoint(&x),
                gamma: prep.checkpoint(&gamma),
                beta: prep.checkpoint(&beta),
                scale: scale.as_ref().map(|s| prep.checkpoint(s)),
                stats: stats.clone(),
                epsilon,
                act,
            };
            prep.finish(state, run(x, gamma, beta, scale))
        }
        OpsKind::UnTracked(prep) => prep.finish(run(x, gamma, beta, scale)),
    }
}

impl<C: CheckpointStrategy> BatchNormOps for Autodiff<Flex, C> {
    fn batch_stats(x: FloatTensor<Self>) -> FloatTensor<Self> {
        <FloatTensor<Self>>::new(<Flex as BatchNormOps>::batch_stats(x.into_primitive()))
    }

    fn batch_norm_act(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        stats: FloatTensor<Self>,
        epsilon: f64,
        act: Act,
    ) -> FloatTensor<Self> {
        let parents = [x.node(), gamma.node(), beta.node()];
        let stats = stats.into_primitive();
        record::<C, 3>(parents, x, gamma, beta, None, stats, epsilon, act)
    }

    fn batch_norm_act_scaled(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        scale: FloatTensor<Self>,
        stats: FloatTensor<Self>,
        epsilon: f64,
        act: Act,
    ) -> FloatTensor<Self> {
        let parents = [x.node(), gamma.node(), beta.node(), scale.node()];
        let stats = stats.into_primitive();
        record::<C, 4>(parents, x, gamma, beta, Some(scale), stats, epsilon, act)
    }
}

/// Flex (plain or autodiff), f32 values and γ.
pub fn supports(x: &Tensor<4>, gamma: &Tensor<1>) -> bool {
    on_flex_f32(x) && on_flex_f32(gamma)
}

/// Per-channel batch mean and biased variance, [2, C], on x's device (no graph).
pub fn batch_stats(x: Tensor<4>) -> Tensor<2> {
    Tensor::from_dispatch(<Dispatch as BatchNormOps>::batch_stats(x.into_dispatch()))
}

/// Training-mode BN with the given batch statistics of x, then `act`, then × `scale`.
pub fn batch_norm_act_train(
    x: Tensor<4>,
    gamma: Tensor<1>,
    beta: Tensor<1>,
    scale: Option<Tensor<1>>,
    stats: Tensor<2>,
    epsilon: f64,
    act: Act,
) -> Tensor<4> {
    let (x, gamma, beta, stats) = (
        x.into_dispatch(),
        gamma.into_dispatch(),
        beta.into_dispatch(),
        stats.into_dispatch(),
    );
    Tensor::from_dispatch(match scale {
        None => <Dispatch as BatchNormOps>::batch_norm_act(x, gamma, beta, stats, epsilon, act),
        Some(s) => <Dispatch as BatchNormOps>::batch_norm_act_scaled(
            x,
            gamma,
            beta,
            s.into_dispatch(),
            stats,
            epsilon,
            act,
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The AVX2 pass against the three-pass reference, on every remainder length, with
    /// values on both sides of each activation's kinks and exactly on them (z = 0, −0,
    /// ±3 at every lane position): the same operations in the same order, so the same
    /// bits. Skipped, saying so, on a CPU without AVX2 (there the reference is all there
    /// is).
    #[test]
    fn grad_sums_match_the_reference() {
        #[cfg(not(target_arch = "x86_64"))]
        eprintln!("grad_sums_match_the_reference: not an x86-64 CPU, skipped");
        #[cfg(target_arch = "x86_64")]
        {
            if !std::is_x86_feature_detected!("avx2") {
                eprintln!("grad_sums_match_the_reference: no AVX2 on this CPU, skipped");
                return;
            }
            let val = |i: usize, k: f32| ((i as f32) * k).sin() * 5.0;
            let kinks = [-3.0f32, 0.0, -0.0, 3.0, 2.5];
            let smooth = SumCoef {
                a: 1.3,
                b: -0.2,
                mu: 0.1,
                s: 0.7,
            };
            let exact = SumCoef {
                a: 1.0,
                b: 0.0,
                mu: 0.1,
                s: 0.7,
            };
            for len in (0..40).chain([1024, 1031]) {
                let gp: Vec<f32> = (0..len).map(|i| val(i, 0.91) * 0.2).collect();
                let sines: Vec<f32> = (0..len).map(|i| val(i, 0.37)).collect();
                let on_kinks: Vec<f32> = (0..len).map(|i| kinks[i % kinks.len()]).collect();
                for (xp, c) in [(&sines, smooth), (&on_kinks, exact)] {
                    for act in [Act::None, Act::Relu, Act::Hswish] {
                        with_activation!(act, |f| {
                            // SAFETY: the CPU has AVX2 (checked above).
                            let ours = unsafe { grad_sums_avx2(xp, &gp, c, f) };
                            let reference = plane_grad_sums_reference(xp, &gp, c, f);
                            let bits =
                                |t: (f32, f32, f32)| [t.0.to_bits(), t.1.to_bits(), t.2.to_bits()];
                            assert_eq!(
                                bits(ours),
                                bits(reference),
                                "{act:?}, {len} values: {ours:?} vs {reference:?}"
                            );
                        });
                    }
                }
            }
        }
    }
}
