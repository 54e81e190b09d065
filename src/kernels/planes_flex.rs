//! Squeeze-excitation's two passes over the map, on Flex, one (n, c) plane per task:
//!
//! - the pool: m[n, c] = mean(x[n, c]) ([N, C, H, W] → [N, C, 1, 1]); backward
//!   dx[n, c, :, :] = g[n, c] / (H·W);
//! - the channel scale: y[n, c] = f[n, c] · x[n, c] (f [N, C, 1, 1]); backward
//!   dx[n, c] = f[n, c] · g[n, c], df[n, c] = ⟨g[n, c], x[n, c]⟩.
//!
//! Burn runs the pool as two `mean_dim`s and the scale as a broadcast multiply, each a
//! serial pass on the calling thread at these sizes (below burn-flex's parallel threshold
//! of 4 Mi values), and the scale's backward forms the full product g · x before reducing
//! it over H·W. Each plane's sum here is its own (in [`LANES`](super::flex_support::LANES)
//! partial sums), so results do not depend on the thread count.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops};
use burn::backend::autodiff::{Autodiff, NodeId};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, Flex, backend_extension};
use burn::tensor::{Tensor, TensorData};
use rayon::prelude::*;

use super::flex_support::{
    dims4, f32s, lane_sum, on_flex_f32, par_planes, record_binary, record_unary,
};

/// The extension: the pool and the channel scale, for Flex and autodiff over Flex.
#[backend_extension(Flex, Autodiff)]
pub trait PlaneOps: Backend {
    /// The mean of each (n, c) plane of x [N, C, H, W], as [N, C, 1, 1].
    fn plane_mean(x: FloatTensor<Self>) -> FloatTensor<Self>;
    /// x [N, C, H, W] with plane (n, c) times f[n, c] (f [N, C, 1, 1]).
    fn plane_scale(x: FloatTensor<Self>, f: FloatTensor<Self>) -> FloatTensor<Self>;
}

/// Per plane of x: Σ x (with `other`: Σ x · other), each plane's sum its own.
fn plane_dots(x: &[f32], other: Option<&[f32]>, planes: usize, hw: usize) -> Vec<f32> {
    (0..planes)
        .into_par_iter()
        .map(|i| {
            let xp = &x[i * hw..][..hw];
            match other {
                Some(o) => lane_sum(xp, &o[i * hw..][..hw], |a, b| a * b),
                None => lane_sum(xp, xp, |a, _| a),
            }
        })
        .collect()
}

fn mean(x: &FlexTensor) -> FlexTensor {
    let [n, c, h, w] = dims4(x);
    let xc = x.to_contiguous();
    let hw = h * w;
    let sums = plane_dots(f32s(&xc), None, n * c, hw);
    let means = sums.into_iter().map(|s| s / hw as f32).collect();
    FlexTensor::from_data(TensorData::new(means, [n, c, 1, 1]))
}

/// Plane i of `x` ([N, C, hw]) times `f[i]`.
fn scale(x: &FlexTensor, f: &FlexTensor) -> FlexTensor {
    let shape = dims4(x);
    let hw = shape[2] * shape[3];
    let (xc, fc) = (x.to_contiguous(), f.to_contiguous());
    let (xs, fs) = (f32s(&xc), f32s(&fc));
    let y = par_planes(xs.len(), hw, |i, plane| {
        let k = fs[i];
        for (o, &v) in plane.iter_mut().zip(&xs[i * hw..][..hw]) {
            *o = k * v;
        }
    });
    FlexTensor::from_data(TensorData::new(y, shape))
}

impl PlaneOps for Flex {
    fn plane_mean(x: FlexTensor) -> FlexTensor {
        mean(&x)
    }

    fn plane_scale(x: FlexTensor, f: FlexTensor) -> FlexTensor {
        scale(&x, &f)
    }
}

#[derive(Debug)]
struct PlaneMeanBackward;

impl Backward<Flex, 1> for PlaneMeanBackward {
    /// x's shape.
    type State = [usize; 4];

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        if let Some(node) = node_x {
            let shape = ops.state;
            let hw = shape[2] * shape[3];
            let gc = grad.to_contiguous();
            let gs = f32s(&gc);
            let dx = par_planes(shape.iter().product(), hw, |i, plane| {
                plane.fill(gs[i] / hw as f32);
            });
            grads.register::<Flex>(node.id, FlexTensor::from_data(TensorData::new(dx, shape)));
        }
    }
}

#[derive(Debug)]
struct PlaneScaleBackward;

impl Backward<Flex, 2> for PlaneScaleBackward {
    /// x and f, checkpointed.
    type State = (NodeId, NodeId);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, cp: &mut Checkpointer) {
        let [node_x, node_f] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let (x_id, f_id) = ops.state;
        if let Some(node) = node_f {
            let x: FlexTensor = cp.retrieve_node_output(x_id);
            let [n, c, h, w] = dims4(&x);
            let (xc, gc) = (x.to_contiguous(), grad.to_contiguous());
            let df = plane_dots(f32s(&gc), Some(f32s(&xc)), n * c, h * w);
            grads.register::<Flex>(
                node.id,
                FlexTensor::from_data(TensorData::new(df, [n, c, 1, 1])),
            );
        }
        if let Some(node) = node_x {
            let f: FlexTensor = cp.retrieve_node_output(f_id);
            grads.register::<Flex>(node.id, scale(&grad, &f));
        }
    }
}

impl<C: CheckpointStrategy> PlaneOps for Autodiff<Flex, C> {
    fn plane_mean(x: FloatTensor<Self>) -> FloatTensor<Self> {
        let shape = dims4(x.primitive());
        record_unary::<C, _>(PlaneMeanBackward, x, shape, |x| mean(&x))
    }

    fn plane_scale(x: FloatTensor<Self>, f: FloatTensor<Self>) -> FloatTensor<Self> {
        record_binary::<C, _>(
            PlaneScaleBackward,
            x,
            f,
            |x_id, f_id| (x_id, f_id),
            |x, f| scale(&x, &f),
        )
    }
}

/// Through the extension (callers check `on_flex_f32` first).
pub fn plane_mean(x: Tensor<4>) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as PlaneOps>::plane_mean(x.into_dispatch()))
}

/// Whether the channel scale's kernel takes x and f: both f32 on Flex, f [N, C, 1, 1].
pub fn supports_scale(x: &Tensor<4>, f: &Tensor<4>) -> bool {
    let [n, c, _, _] = x.dims();
    on_flex_f32(x) && on_flex_f32(f) && f.dims() == [n, c, 1, 1]
}

/// Through the extension (callers check [`supports_scale`] first).
pub fn plane_scale(x: Tensor<4>, f: Tensor<4>) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as PlaneOps>::plane_scale(
        x.into_dispatch(),
        f.into_dispatch(),
    ))
}
