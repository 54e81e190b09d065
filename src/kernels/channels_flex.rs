//! Zero-padding the channel dimension on Flex: y[n, c] = x[n, c] for c < C_x, else 0, and
//! its backward dL/dx[n, c] = dL/dy[n, c] for c < C_x. Both copy whole planes in parallel;
//! Burn's `zeros` + `cat` (the fallback) fills and copies on the calling thread.

use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, Flex, backend_extension};
use burn::tensor::{Tensor, TensorData};

use super::flex_support::{dims4, f32s, par_planes, record_unary};

/// The extension: one op, implemented for Flex and for autodiff over Flex.
#[backend_extension(Flex, Autodiff)]
pub trait ChannelOps: Backend {
    /// x [N, C_x, H, W] zero-padded to [N, c, H, W], c ≥ C_x.
    fn pad_channels(x: FloatTensor<Self>, c: usize) -> FloatTensor<Self>;
}

/// Planes of `from` ([N, c_from, hw]) taken into [N, c_to, hw]: channel ch < min(c_from,
/// c_to) copied, the rest 0.
fn take_planes(from: &FlexTensor, c_to: usize) -> FlexTensor {
    let [n, c_from, h, w] = dims4(from);
    let fc = from.to_contiguous();
    let xs = f32s(&fc);
    let hw = h * w;
    let y = par_planes(n * c_to * hw, hw, |i, plane| {
        let (b, ch) = (i / c_to, i % c_to);
        if ch < c_from {
            plane.copy_from_slice(&xs[(b * c_from + ch) * hw..][..hw]);
        }
    });
    FlexTensor::from_data(TensorData::new(y, [n, c_to, h, w]))
}

impl ChannelOps for Flex {
    fn pad_channels(x: FlexTensor, c: usize) -> FlexTensor {
        take_planes(&x, c)
    }
}

#[derive(Debug)]
struct PadChannelsBackward;

impl Backward<Flex, 1> for PadChannelsBackward {
    /// C_x.
    type State = usize;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        if let Some(node) = node_x {
            grads.register::<Flex>(node.id, take_planes(&grad, ops.state));
        }
    }
}

impl<C: CheckpointStrategy> ChannelOps for Autodiff<Flex, C> {
    fn pad_channels(x: FloatTensor<Self>, c: usize) -> FloatTensor<Self> {
        let c_x = dims4(x.primitive())[1];
        record_unary::<C, _>(PadChannelsBackward, x, c_x, |x| take_planes(&x, c))
    }
}

/// Through the extension (callers check `on_flex_f32` first).
pub fn pad_channels(x: Tensor<4>, c: usize) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as ChannelOps>::pad_channels(x.into_dispatch(), c))
}
