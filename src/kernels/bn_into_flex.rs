//! A convolution (depthwise or pointwise) of y = s · act(BN(x)) on Flex, with y never
//! written out.
//!
//! In an inverted-residual block the expansion's BN output feeds only the depthwise
//! convolution, and the depthwise layer's feeds only the projection (without SE); the
//! expanded tensors are the widest of the block. As two ops, the BN pass reads x and
//! writes y, the convolution reads y, and autodiff keeps both x and y for the backward
//! pass. Here the convolution maps its input through BN, the activation and the scale as
//! it reads it (the [`Prologue`]: a depthwise plane into a scratch plane before its padded
//! copy, a pointwise item's planes into a scratch buffer before the matrix product), and
//! so does the weight gradient: a pass that writes y and a pass that reads it are gone,
//! and only x is kept. The arithmetic is that of the two ops, in the same order, so
//! values and gradients are the same bits.
//!
//! Backward, with g = dL/d(output): dL/dy = the convolution's input gradient of g, then
//! BN's backward of dL/dy gives dL/dx, dγ, dβ and ds; dL/dw is the convolution's weight
//! gradient of g against y, recomputed from x.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::{Autodiff, NodeId};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, Flex, backend_extension};
use burn::tensor::Tensor;

use super::batch_norm_flex::{self as bn_flex, Bn, Prologue, prologue};
use super::flex_support::dims4;
use super::{NextConv as Next, depthwise_flex as dw, pointwise_flex as pw};
use crate::arch::Act;

/// The extension: one op, implemented for Flex and for autodiff over Flex.
#[backend_extension(Flex, Autodiff)]
pub trait BnIntoOps: Backend {
    /// next(s · act(BN(x; γ, β, stats)), weight), stats [2, C] (mean, biased variance)
    /// of x.
    #[allow(clippy::too_many_arguments)]
    fn batch_norm_act_into(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        scale: FloatTensor<Self>,
        stats: FloatTensor<Self>,
        epsilon: f64,
        act: Act,
        weight: FloatTensor<Self>,
        next: Next,
    ) -> FloatTensor<Self>;
}

/// The op's settings besides its tensors.
#[derive(Clone, Debug)]
struct Settings {
    stats: FlexTensor,
    epsilon: f64,
    act: Act,
    next: Next,
}

impl Settings {
    fn bn(&self) -> Bn<'_> {
        Bn {
            stats: &self.stats,
            epsilon: self.epsilon,
            act: self.act,
        }
    }
}

fn run(
    x: &FlexTensor,
    gamma: &FlexTensor,
    beta: &FlexTensor,
    scale: &FlexTensor,
    weight: &FlexTensor,
    set: &Settings,
) -> FlexTensor {
    let pro = prologue(gamma, beta, Some(scale), set.bn());
    match set.next {
        Next::Depthwise { stride, padding } => {
            let g = dw::Geom::new(dims4(x), dims4(weight), stride, padding);
            dw::forward(&g, x, weight, Some(&pro))
        }
        Next::Pointwise => pw::forward(x, weight, Some(&pro)),
    }
}

/// dL/dw of the convolution, against y = pro(x).
fn grad_weight(
    x: &FlexTensor,
    weight: &FlexTensor,
    g: &FlexTensor,
    pro: &Prologue,
    next: Next,
) -> FlexTensor {
    match next {
        Next::Depthwise { stride, padding } => {
            let geom = dw::Geom::new(dims4(x), dims4(weight), stride, padding);
            dw::grad_weight(&geom, x, g, Some(pro))
        }
        Next::Pointwise => pw::grad_weight(x, g, dims4(weight)[0], Some(pro)),
    }
}

/// dL/dy of the convolution.
fn grad_input(x: &FlexTensor, weight: &FlexTensor, g: &FlexTensor, next: Next) -> FlexTensor {
    match next {
        Next::Depthwise { stride, padding } => {
            let geom = dw::Geom::new(dims4(x), dims4(weight), stride, padding);
            dw::grad_input(&geom, weight, g)
        }
        Next::Pointwise => pw::grad_input(dims4(x), weight, g),
    }
}

impl BnIntoOps for Flex {
    fn batch_norm_act_into(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        scale: FlexTensor,
        stats: FlexTensor,
        epsilon: f64,
        act: Act,
        weight: FlexTensor,
        next: Next,
    ) -> FlexTensor {
        let set = Settings {
            stats,
            epsilon,
            act,
            next,
        };
        run(&x, &gamma, &beta, &scale, &weight, &set)
    }
}

/// What the backward pass keeps: the checkpointed x, γ, β, s and weight, and the settings.
#[derive(Clone, Debug)]
struct State {
    ids: [NodeId; 5],
    set: Settings,
}

/// The backward pass of the op with parents x, γ, β, s and weight.
#[derive(Debug)]
struct BnIntoBackward;

impl Backward<Flex, 5> for BnIntoBackward {
    type State = State;

    fn backward(self, ops: Ops<State, 5>, grads: &mut Gradients, cp: &mut Checkpointer) {
        let grad = grads.consume::<Flex>(&ops.node);
        let State { ids, set } = ops.state;
        let [x, gamma, beta, scale, weight]: [FlexTensor; 5] =
            ids.map(|id| cp.retrieve_node_output(id));
        let [n_x, n_gamma, n_beta, n_scale, n_weight] = ops.parents;
        if let Some(node) = n_weight {
            let pro = prologue(&gamma, &beta, Some(&scale), set.bn());
            let gw = grad_weight(&x, &weight, &grad, &pro, set.next);
            grads.register::<Flex>(node.id, gw);
        }
        if [&n_x, &n_gamma, &n_beta, &n_scale]
            .iter()
            .all(|n| n.is_none())
        {
            return;
        }
        let dy = grad_input(&x, &weight, &grad, set.next);
        let g = bn_flex::grads(&x, gamma, beta, Some(scale), set.bn(), dy, n_x.is_some());
        let values = [g.x, Some(g.gamma), Some(g.beta), g.scale];
        for (node, value) in [n_x, n_gamma, n_beta, n_scale].into_iter().zip(values) {
            if let (Some(node), Some(v)) = (node, value) {
                grads.register::<Flex>(node.id, v);
            }
        }
    }
}

impl<C: CheckpointStrategy> BnIntoOps for Autodiff<Flex, C> {
    fn batch_norm_act_into(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        scale: FloatTensor<Self>,
        stats: FloatTensor<Self>,
        epsilon: f64,
        act: Act,
        weight: FloatTensor<Self>,
        next: Next,
    ) -> FloatTensor<Self> {
        let set = Settings {
            stats: stats.into_primitive(),
            epsilon,
            act,
            next,
        };
        let parents = [
            x.node(),
            gamma.node(),
            beta.node(),
            scale.node(),
            weight.node(),
        ];
        let inputs = [x, gamma, beta, scale, weight];
        match BnIntoBackward
            .prepare::<C>(parents)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let ids = inputs.each_ref().map(|t| prep.checkpoint(t));
                let [x, gamma, beta, scale, weight] = inputs.map(|t| t.into_primitive());
                let y = run(&x, &gamma, &beta, &scale, &weight, &set);
                prep.finish(State { ids, set }, y)
            }
            OpsKind::UnTracked(prep) => {
                let [x, gamma, beta, scale, weight] = inputs.map(|t| t.into_primitive());
                prep.finish(run(&x, &gamma, &beta, &scale, &weight, &set))
            }
        }
    }
}

/// Through the extension (callers check that both the batch norm's and the convolution's
/// kernels apply).
#[allow(clippy::too_many_arguments)]
pub fn batch_norm_act_into(
    x: Tensor<4>,
    gamma: Tensor<1>,
    beta: Tensor<1>,
    scale: Tensor<1>,
    stats: Tensor<2>,
    epsilon: f64,
    act: Act,
    weight: Tensor<4>,
    next: Next,
) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as BnIntoOps>::batch_norm_act_into(
        x.into_dispatch(),
        gamma.into_dispatch(),
        beta.into_dispatch(),
        scale.into_dispatch(),
        stats.into_dispatch(),
        epsilon,
        act,
        weight.into_dispatch(),
        next,
    ))
}
