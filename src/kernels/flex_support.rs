//! What our Flex kernels share: which tensors they take, reading a Flex tensor's values,
//! and recording a two-input op for autodiff as Burn records its own convolutions.

use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::ops::{Backward, OpsKind};
use burn::backend::autodiff::{Autodiff, NodeId};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{DispatchDevice, Flex};
use burn::tensor::{DType, Tensor};

/// On Flex (plain or under autodiff) with f32 values: what our kernels take.
pub fn on_flex_f32<const D: usize>(t: &Tensor<D>) -> bool {
    matches!(t.device().inner().as_dispatch(), DispatchDevice::Flex(_)) && t.dtype() == DType::F32
}

/// The shape of a rank-4 Flex tensor.
pub fn dims4(t: &FlexTensor) -> [usize; 4] {
    t.layout().shape().dims::<4>()
}

/// The values of a dense f32 Flex tensor (from `to_contiguous`, a shared reference when
/// the tensor is already dense, else a copy).
pub fn f32s(t: &FlexTensor) -> &[f32] {
    t.as_slice::<f32>()
        .expect("our Flex kernels take dense f32 tensors")
}

/// y = forward(x, w) on Flex; where either input needs a gradient, x and w are
/// checkpointed and `state(x, w)` is kept for `op`'s backward.
pub fn record_binary<C, O>(
    op: O,
    x: FloatTensor<Autodiff<Flex, C>>,
    w: FloatTensor<Autodiff<Flex, C>>,
    state: impl FnOnce(NodeId, NodeId) -> O::State,
    forward: impl FnOnce(FlexTensor, FlexTensor) -> FlexTensor,
) -> FloatTensor<Autodiff<Flex, C>>
where
    C: CheckpointStrategy,
    O: Backward<Flex, 2> + 'static,
{
    match op
        .prepare::<C>([x.node(), w.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(mut prep) => {
            let x_id = prep.checkpoint(&x);
            let w_id = prep.checkpoint(&w);
            let y = forward(x.into_primitive(), w.into_primitive());
            prep.finish(state(x_id, w_id), y)
        }
        OpsKind::UnTracked(prep) => prep.finish(forward(x.into_primitive(), w.into_primitive())),
    }
}
