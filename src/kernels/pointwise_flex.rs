//! Pointwise (1×1, stride 1) convolution on Flex: Flex's forward, and a backward as two
//! batched matrix products on the NCHW data seen as [N, C, H·W].
//!
//! With X[n] = x[n] as [C_in, HW], G[n] = dL/dy[n] as [C_out, HW] and W as [C_out, C_in]:
//! dL/dX[n] = Wᵀ G[n], dL/dW = Σ_n G[n] X[n]ᵀ. Burn's generic backward goes through a
//! transposed convolution and a re-laid-out convolution instead.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops};
use burn::backend::autodiff::{Autodiff, NodeId};
use burn::backend::flex::FlexTensor;
use burn::backend::ops::{FloatTensorOps, ModuleOps};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, Flex, Shape, backend_extension};
use burn::tensor::Tensor;
use burn::tensor::ops::ConvOptions;

use super::flex_support::{dims4, on_flex_f32, record_binary};

/// The extension: one op, implemented for Flex and for autodiff over Flex.
#[backend_extension(Flex, Autodiff)]
pub trait PointwiseOps: Backend {
    /// 1×1 convolution with stride 1, weight [C_out, C_in, 1, 1], no bias.
    fn pointwise_conv2d(x: FloatTensor<Self>, weight: FloatTensor<Self>) -> FloatTensor<Self>;
}

impl PointwiseOps for Flex {
    fn pointwise_conv2d(x: FlexTensor, weight: FlexTensor) -> FlexTensor {
        let opts = ConvOptions::new([1, 1], [0, 0], [1, 1], 1);
        <Flex as ModuleOps<Flex>>::conv2d(x, weight, None, opts)
    }
}

#[derive(Debug)]
struct PointwiseBackward;

impl Backward<Flex, 2> for PointwiseBackward {
    /// (x, weight).
    type State = (NodeId, NodeId);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, cp: &mut Checkpointer) {
        let [node_x, node_w] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let (x_id, w_id) = ops.state;
        let x: FlexTensor = cp.retrieve_node_output(x_id);
        let w: FlexTensor = cp.retrieve_node_output(w_id);
        let [n, c_in, h, wd] = dims4(&x);
        let c_out = dims4(&w)[0];
        let g = Flex::float_reshape(grad, Shape::new([n, c_out, h * wd]));
        if let Some(node) = node_x {
            let wt =
                Flex::float_swap_dims(Flex::float_reshape(w, Shape::new([1, c_out, c_in])), 1, 2);
            let gx = Flex::float_matmul(wt, g.clone());
            grads.register::<Flex>(
                node.id,
                Flex::float_reshape(gx, Shape::new([n, c_in, h, wd])),
            );
        }
        if let Some(node) = node_w {
            let xt =
                Flex::float_swap_dims(Flex::float_reshape(x, Shape::new([n, c_in, h * wd])), 1, 2);
            let gw = Flex::float_sum_dim(Flex::float_matmul(g, xt), 0);
            grads.register::<Flex>(
                node.id,
                Flex::float_reshape(gw, Shape::new([c_out, c_in, 1, 1])),
            );
        }
    }
}

impl<C: CheckpointStrategy> PointwiseOps for Autodiff<Flex, C> {
    fn pointwise_conv2d(x: FloatTensor<Self>, weight: FloatTensor<Self>) -> FloatTensor<Self> {
        record_binary::<C, _>(
            PointwiseBackward,
            x,
            weight,
            |x, w| (x, w),
            <Flex as PointwiseOps>::pointwise_conv2d,
        )
    }
}

/// Flex (plain or autodiff), f32, weight [C_out, C_in, 1, 1] over x's C_in channels.
pub fn supports(x: &Tensor<4>, weight: &Tensor<4>) -> bool {
    let ([_, c, _, _], [_, cw, kh, kw]) = (x.dims(), weight.dims());
    on_flex_f32(x) && on_flex_f32(weight) && cw == c && kh == 1 && kw == 1
}

/// Through the extension (callers check [`supports`] first).
pub fn pointwise_conv2d(x: Tensor<4>, weight: Tensor<4>) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as PointwiseOps>::pointwise_conv2d(
        x.into_dispatch(),
        weight.into_dispatch(),
    ))
}
