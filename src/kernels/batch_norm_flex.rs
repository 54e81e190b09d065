//! Training-mode batch normalisation on Flex, fused over NCHW planes.
//!
//! Burn's generic `batch_norm_train` and its backward lay the input out as [C, N·H·W] with
//! a transposed copy for each of their four per-channel reductions. Here channel c's values
//! are its N contiguous H·W planes, read in place:
//!
//! - statistics: μ_c = mean(x[:, c]), σ²_c = mean((x[:, c] − μ_c)²) (biased), summed in f64;
//! - forward: y = γ_c (x − μ_c) / √(σ²_c + ε) + β_c;
//! - backward, with x̂ = (x − μ) / √(σ² + ε) and M = N·H·W:
//!   dβ_c = Σ g, dγ_c = Σ g x̂, dx = γ_c / √(σ²_c + ε) · (g − dβ_c / M − x̂ dγ_c / M).

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::{Autodiff, NodeId};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, Flex, backend_extension};
use burn::tensor::{Tensor, TensorData};
use rayon::prelude::*;

use super::flex_support::{dims4, f32s, on_flex_f32};

/// The extension: batch statistics (not differentiated) and the normalisation with them.
#[backend_extension(Flex, Autodiff)]
pub trait BatchNormOps: Backend {
    /// Per-channel batch mean and biased variance of x [N, C, H, W], as [2, C].
    fn batch_stats(x: FloatTensor<Self>) -> FloatTensor<Self>;
    /// y = γ (x − μ) / √(σ² + ε) + β with `stats` = batch_stats(x); differentiated as
    /// training-mode BN (μ and σ² depend on x).
    fn batch_norm_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        stats: FloatTensor<Self>,
        epsilon: f64,
    ) -> FloatTensor<Self>;
}

/// (mean, 1 / √(var + ε)) per channel.
fn moments(stats: &FlexTensor, c: usize, epsilon: f64) -> (Vec<f32>, Vec<f32>) {
    let s = stats.to_contiguous();
    let v = f32s(&s);
    let inv = v[c..2 * c]
        .iter()
        .map(|&var| (1.0 / (var as f64 + epsilon).sqrt()) as f32)
        .collect();
    (v[..c].to_vec(), inv)
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
                let planes = || (0..n).map(move |b| &xs[(b * c + ch) * hw..][..hw]);
                let mean = planes().flatten().map(|&v| v as f64).sum::<f64>() / m;
                let var = planes()
                    .flatten()
                    .map(|&v| (v as f64 - mean).powi(2))
                    .sum::<f64>()
                    / m;
                (mean as f32, var as f32)
            })
            .collect();
        let mut out: Vec<f32> = per.iter().map(|p| p.0).collect();
        out.extend(per.iter().map(|p| p.1));
        FlexTensor::from_data(TensorData::new(out, [2, c]))
    }

    fn batch_norm_train(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        stats: FlexTensor,
        epsilon: f64,
    ) -> FlexTensor {
        let shape = dims4(&x);
        let [_, c, h, w] = shape;
        let (mean, inv) = moments(&stats, c, epsilon);
        let (gc, bc, xc) = (
            gamma.to_contiguous(),
            beta.to_contiguous(),
            x.to_contiguous(),
        );
        let (gs, bs, xs) = (f32s(&gc), f32s(&bc), f32s(&xc));
        // y = a_c x + b_c
        let a: Vec<f32> = (0..c).map(|ch| gs[ch] * inv[ch]).collect();
        let b: Vec<f32> = (0..c).map(|ch| bs[ch] - mean[ch] * a[ch]).collect();
        let hw = h * w;
        let mut y = vec![0f32; xs.len()];
        y.par_chunks_mut(hw)
            .zip(xs.par_chunks(hw))
            .enumerate()
            .for_each(|(nc, (yp, xp))| {
                let (ac, bc) = (a[nc % c], b[nc % c]);
                for (o, &v) in yp.iter_mut().zip(xp) {
                    *o = ac * v + bc;
                }
            });
        FlexTensor::from_data(TensorData::new(y, shape))
    }
}

#[derive(Debug)]
struct BatchNormBackward;

impl Backward<Flex, 3> for BatchNormBackward {
    /// (x, γ, batch statistics, ε).
    type State = (NodeId, NodeId, FlexTensor, f64);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, cp: &mut Checkpointer) {
        let [node_x, node_gamma, node_beta] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let (x_id, gamma_id, stats, epsilon) = ops.state;
        let x: FlexTensor = cp.retrieve_node_output(x_id);
        let gamma: FlexTensor = cp.retrieve_node_output(gamma_id);
        let shape = dims4(&x);
        let [n, c, h, w] = shape;
        let hw = h * w;
        let m = (n * hw) as f64;
        let (mean, inv) = moments(&stats, c, epsilon);
        let (xc, gc, gmc) = (
            x.to_contiguous(),
            grad.to_contiguous(),
            gamma.to_contiguous(),
        );
        let (xs, gs, gms) = (f32s(&xc), f32s(&gc), f32s(&gmc));
        // Per channel: Σ g and Σ g (x − μ).
        let sums: Vec<(f64, f64)> = (0..c)
            .into_par_iter()
            .map(|ch| {
                let (mut sg, mut sgx) = (0f64, 0f64);
                for b in 0..n {
                    let off = (b * c + ch) * hw;
                    let (xp, gp) = (&xs[off..][..hw], &gs[off..][..hw]);
                    let (mut pg, mut pgx) = (0f32, 0f32);
                    for (&xv, &gv) in xp.iter().zip(gp) {
                        pg += gv;
                        pgx += gv * (xv - mean[ch]);
                    }
                    sg += pg as f64;
                    sgx += pgx as f64;
                }
                (sg, sgx)
            })
            .collect();
        let beta_grad: Vec<f32> = sums.iter().map(|s| s.0 as f32).collect();
        let gamma_grad: Vec<f32> = sums
            .iter()
            .zip(&inv)
            .map(|(s, &i)| (s.1 * i as f64) as f32)
            .collect();
        if let Some(node) = node_x {
            // dx = k_c (g − dβ_c / M) − q_c (x − μ_c), k_c = γ_c / √(σ²_c + ε),
            // q_c = k_c dγ_c / (M √(σ²_c + ε)).
            let k: Vec<f32> = (0..c).map(|ch| gms[ch] * inv[ch]).collect();
            let q: Vec<f32> = (0..c)
                .map(|ch| (k[ch] as f64 * gamma_grad[ch] as f64 * inv[ch] as f64 / m) as f32)
                .collect();
            let gmean: Vec<f32> = beta_grad.iter().map(|&s| (s as f64 / m) as f32).collect();
            let mut dx = vec![0f32; xs.len()];
            dx.par_chunks_mut(hw).enumerate().for_each(|(nc, dp)| {
                let ch = nc % c;
                let (xp, gp) = (&xs[nc * hw..][..hw], &gs[nc * hw..][..hw]);
                let (kc, qc, gm, mu) = (k[ch], q[ch], gmean[ch], mean[ch]);
                for ((d, &xv), &gv) in dp.iter_mut().zip(xp).zip(gp) {
                    *d = kc * (gv - gm) - qc * (xv - mu);
                }
            });
            grads.register::<Flex>(node.id, FlexTensor::from_data(TensorData::new(dx, shape)));
        }
        if let Some(node) = node_gamma {
            grads.register::<Flex>(
                node.id,
                FlexTensor::from_data(TensorData::new(gamma_grad, [c])),
            );
        }
        if let Some(node) = node_beta {
            grads.register::<Flex>(
                node.id,
                FlexTensor::from_data(TensorData::new(beta_grad, [c])),
            );
        }
    }
}

impl<C: CheckpointStrategy> BatchNormOps for Autodiff<Flex, C> {
    fn batch_stats(x: FloatTensor<Self>) -> FloatTensor<Self> {
        <FloatTensor<Self>>::new(<Flex as BatchNormOps>::batch_stats(x.into_primitive()))
    }

    fn batch_norm_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        stats: FloatTensor<Self>,
        epsilon: f64,
    ) -> FloatTensor<Self> {
        let stats = stats.into_primitive();
        match BatchNormBackward
            .prepare::<C>([x.node(), gamma.node(), beta.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let x_id = prep.checkpoint(&x);
                let gamma_id = prep.checkpoint(&gamma);
                let y = <Flex as BatchNormOps>::batch_norm_train(
                    x.into_primitive(),
                    gamma.into_primitive(),
                    beta.into_primitive(),
                    stats.clone(),
                    epsilon,
                );
                prep.finish((x_id, gamma_id, stats, epsilon), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(<Flex as BatchNormOps>::batch_norm_train(
                x.into_primitive(),
                gamma.into_primitive(),
                beta.into_primitive(),
                stats,
                epsilon,
            )),
        }
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

/// Training-mode BN with the given batch statistics of x.
pub fn batch_norm_train(
    x: Tensor<4>,
    gamma: Tensor<1>,
    beta: Tensor<1>,
    stats: Tensor<2>,
    epsilon: f64,
) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as BatchNormOps>::batch_norm_train(
        x.into_dispatch(),
        gamma.into_dispatch(),
        beta.into_dispatch(),
        stats.into_dispatch(),
        epsilon,
    ))
}
