//! Recording a two-input Flex op for autodiff, as Burn records its own convolutions.

use burn::backend::Flex;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::ops::{Backward, OpsKind};
use burn::backend::autodiff::{Autodiff, NodeId};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;

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
