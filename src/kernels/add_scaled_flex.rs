//! A probability-weighted identity added to a layer's output, on Flex: out = y + p · fit(x),
//! fit(x) being x with its channels zero-padded or cut to y's, p a scalar tensor [1].
//!
//! This is how a supernet adds a path that is present with some probability: the
//! identity side of a layer that may be absent (`keep_or_identity`: y + (1 − keep) · x)
//! and a block's weighted residual (y + P(in = out) · x). Burn runs it as three ops
//! (pad or cut, broadcast multiply, add), each a serial pass over the map on the calling
//! thread (below burn-flex's parallel threshold of 4 Mi values), and its backward forms
//! the full product g · x before reducing it for p. Here it is one pass over planes in
//! parallel (in place when y's buffer is not shared), and one backward pass:
//!
//! - dy = g;
//! - dx[n, c] = p · g[n, c] for c < min(C_y, C_x), else 0;
//! - dp = Σ_{n, c < min(C_y, C_x)} ⟨g[n, c], x[n, c]⟩: each plane's dot in f32 lanes, the
//!   planes' dots added in f64 in order (the same value whatever the thread count); x is
//!   kept for it only where p needs a gradient (the architecture step).

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

use super::flex_support::{dims4, f32s, lane_sum, on_flex_f32, par_planes};

/// The extension: one op, implemented for Flex and for autodiff over Flex.
#[backend_extension(Flex, Autodiff)]
pub trait AddScaledOps: Backend {
    /// y [N, C, H, W] + p · x [N, C_x, H, W] (channels zero-padded or cut to C), p [1].
    fn add_scaled(
        y: FloatTensor<Self>,
        x: FloatTensor<Self>,
        p: FloatTensor<Self>,
    ) -> FloatTensor<Self>;
}

/// The one value of a scalar tensor [1].
fn scalar(p: &FlexTensor) -> f32 {
    f32s(&p.to_contiguous())[0]
}

/// y + p · fit(x), written into y's own buffer when nothing else holds it.
fn forward(mut y: FlexTensor, x: &FlexTensor, p: f32) -> FlexTensor {
    let [n, c, h, w] = dims4(&y);
    let c_x = dims4(x)[1];
    let (hw, len) = (h * w, n * c * h * w);
    let xc = x.to_contiguous();
    let xs = f32s(&xc);
    // Plane i of the output: y's plane plus p times x's plane of the same (n, c).
    let add = |i: usize, out: &mut [f32]| {
        let (b, ch) = (i / c, i % c);
        if ch < c_x {
            for (o, &v) in out.iter_mut().zip(&xs[(b * c_x + ch) * hw..][..hw]) {
                *o += p * v;
            }
        }
    };
    if hw == 0 || len == 0 {
        return y;
    }
    let own = y.is_unique() && y.layout().contiguous_offsets() == Some((0, len));
    if own && let Some(values) = y.try_storage_mut::<f32>() {
        values[..len]
            .par_chunks_mut(hw)
            .enumerate()
            .for_each(|(i, plane)| add(i, plane));
        return y;
    }
    let yc = y.to_contiguous();
    let ys = f32s(&yc);
    let out = par_planes(len, hw, |i, plane| {
        plane.copy_from_slice(&ys[i * hw..][..hw]);
        add(i, plane);
    });
    FlexTensor::from_data(TensorData::new(out, [n, c, h, w]))
}

/// dx: p · g on the channels both have, 0 on x's channels beyond y's.
fn grad_x(g: &FlexTensor, x_shape: [usize; 4], p: f32) -> FlexTensor {
    let [n, c, h, w] = dims4(g);
    let c_x = x_shape[1];
    let hw = h * w;
    let gc = g.to_contiguous();
    let gs = f32s(&gc);
    let dx = par_planes(n * c_x * hw, hw, |i, plane| {
        let (b, ch) = (i / c_x, i % c_x);
        if ch < c {
            for (d, &v) in plane.iter_mut().zip(&gs[(b * c + ch) * hw..][..hw]) {
                *d = p * v;
            }
        }
    });
    FlexTensor::from_data(TensorData::new(dx, x_shape))
}

/// dp: Σ ⟨g, x⟩ over the planes both have, each plane's dot in parallel, summed in order.
fn grad_p(g: &FlexTensor, x: &FlexTensor) -> FlexTensor {
    let [n, c, h, w] = dims4(g);
    let c_x = dims4(x)[1];
    let (hw, m) = (h * w, c.min(c_x));
    let (gc, xc) = (g.to_contiguous(), x.to_contiguous());
    let (gs, xs) = (f32s(&gc), f32s(&xc));
    let planes: Vec<f64> = (0..n * m)
        .into_par_iter()
        .map(|i| {
            let (b, ch) = (i / m, i % m);
            let gp = &gs[(b * c + ch) * hw..][..hw];
            let xp = &xs[(b * c_x + ch) * hw..][..hw];
            lane_sum(gp, xp, |a, b| a * b) as f64
        })
        .collect();
    let total: f64 = planes.iter().sum();
    FlexTensor::from_data(TensorData::new(vec![total as f32], [1]))
}

impl AddScaledOps for Flex {
    fn add_scaled(y: FlexTensor, x: FlexTensor, p: FlexTensor) -> FlexTensor {
        forward(y, &x, scalar(&p))
    }
}

/// What the backward pass keeps: x (checkpointed, for dp, where p is tracked), p's value
/// and x's shape.
#[derive(Clone, Debug)]
struct State {
    x: Option<NodeId>,
    p: f32,
    x_shape: [usize; 4],
}

#[derive(Debug)]
struct AddScaledBackward;

impl Backward<Flex, 3> for AddScaledBackward {
    type State = State;

    fn backward(self, ops: Ops<State, 3>, grads: &mut Gradients, cp: &mut Checkpointer) {
        let grad = grads.consume::<Flex>(&ops.node);
        let [node_y, node_x, node_p] = ops.parents;
        let state = ops.state;
        if let (Some(node), Some(x)) = (node_p, state.x) {
            let x: FlexTensor = cp.retrieve_node_output(x);
            grads.register::<Flex>(node.id, grad_p(&grad, &x));
        }
        if let Some(node) = node_x {
            grads.register::<Flex>(node.id, grad_x(&grad, state.x_shape, state.p));
        }
        if let Some(node) = node_y {
            grads.register::<Flex>(node.id, grad);
        }
    }
}

impl<C: CheckpointStrategy> AddScaledOps for Autodiff<Flex, C> {
    fn add_scaled(
        y: FloatTensor<Self>,
        x: FloatTensor<Self>,
        p: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let value = scalar(p.primitive());
        let parents = [y.node(), x.node(), p.node()];
        match AddScaledBackward
            .prepare::<C>(parents)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let state = State {
                    x: p.is_tracked().then(|| prep.checkpoint(&x)),
                    p: value,
                    x_shape: dims4(x.primitive()),
                };
                let out = forward(y.into_primitive(), x.primitive(), value);
                prep.finish(state, out)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(forward(y.into_primitive(), x.primitive(), value))
            }
        }
    }
}

/// Whether the kernel takes these tensors: all three f32 on Flex, p one value, and x of
/// y's batch and plane size (its channel count may differ).
pub fn supports(y: &Tensor<4>, x: &Tensor<4>, p: &Tensor<1>) -> bool {
    let ([n, _, h, w], [n_x, _, h_x, w_x]) = (y.dims(), x.dims());
    on_flex_f32(y)
        && on_flex_f32(x)
        && on_flex_f32(p)
        && p.dims() == [1]
        && (n, h, w) == (n_x, h_x, w_x)
}

/// Through the extension (callers check [`supports`] first).
pub fn add_scaled(y: Tensor<4>, x: Tensor<4>, p: Tensor<1>) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as AddScaledOps>::add_scaled(
        y.into_dispatch(),
        x.into_dispatch(),
        p.into_dispatch(),
    ))
}
