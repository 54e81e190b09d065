//! The resolution lattice's subsample and its adjoint on Flex, whole planes in parallel:
//! gather y[n, c, u, v] = x[n, c, p_u, p_v] and scatter x[n, c, p_u, p_v] = y[n, c, u, v]
//! (zeros elsewhere), for distinct positions p. Each is the other's backward. Burn's
//! `select` + `select_assign` (the fallback) run two passes per op, and the backward of
//! `select` is a general scatter-add (`select_add`) on the calling thread.

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

/// The extension: two ops, implemented for Flex and for autodiff over Flex.
#[backend_extension(Flex, Autodiff)]
pub trait LatticeOps: Backend {
    /// x [N, C, R, R] → [N, C, r, r] at the r distinct `positions` of both axes.
    fn lattice_gather(x: FloatTensor<Self>, positions: Vec<usize>) -> FloatTensor<Self>;
    /// y [N, C, r, r] → [N, C, full, full], y at `positions`, zeros elsewhere.
    fn lattice_scatter(
        y: FloatTensor<Self>,
        positions: Vec<usize>,
        full: usize,
    ) -> FloatTensor<Self>;
}

fn gather(x: &FlexTensor, pos: &[usize]) -> FlexTensor {
    let [n, c, h, w] = dims4(x);
    let xc = x.to_contiguous();
    let xs = f32s(&xc);
    let r = pos.len();
    let y = par_planes(n * c * r * r, r * r, |i, plane| {
        let src = &xs[i * h * w..][..h * w];
        for (row, &pu) in plane.chunks_exact_mut(r).zip(pos) {
            let line = &src[pu * w..][..w];
            for (d, &pv) in row.iter_mut().zip(pos) {
                *d = line[pv];
            }
        }
    });
    FlexTensor::from_data(TensorData::new(y, [n, c, r, r]))
}

fn scatter(y: &FlexTensor, pos: &[usize], full: usize) -> FlexTensor {
    let [n, c, r, _] = dims4(y);
    let yc = y.to_contiguous();
    let ys = f32s(&yc);
    let x = par_planes(n * c * full * full, full * full, |i, plane| {
        let src = &ys[i * r * r..][..r * r];
        for (row, &pu) in src.chunks_exact(r).zip(pos) {
            let line = &mut plane[pu * full..][..full];
            for (&v, &pv) in row.iter().zip(pos) {
                line[pv] = v;
            }
        }
    });
    FlexTensor::from_data(TensorData::new(x, [n, c, full, full]))
}

impl LatticeOps for Flex {
    fn lattice_gather(x: FlexTensor, positions: Vec<usize>) -> FlexTensor {
        gather(&x, &positions)
    }

    fn lattice_scatter(y: FlexTensor, positions: Vec<usize>, full: usize) -> FlexTensor {
        scatter(&y, &positions, full)
    }
}

/// The backward of a gather (a scatter of the gradient) or of a scatter (a gather).
#[derive(Debug)]
struct LatticeBackward {
    gathered: bool,
}

impl Backward<Flex, 1> for LatticeBackward {
    /// (positions, the full size).
    type State = (Vec<usize>, usize);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let (pos, full) = ops.state;
        if let Some(node) = node {
            let g = if self.gathered {
                scatter(&grad, &pos, full)
            } else {
                gather(&grad, &pos)
            };
            grads.register::<Flex>(node.id, g);
        }
    }
}

impl<C: CheckpointStrategy> LatticeOps for Autodiff<Flex, C> {
    fn lattice_gather(x: FloatTensor<Self>, positions: Vec<usize>) -> FloatTensor<Self> {
        let full = dims4(x.primitive())[2];
        let op = LatticeBackward { gathered: true };
        let forward = |x: FlexTensor| gather(&x, &positions);
        record_unary::<C, _>(op, x, (positions.clone(), full), forward)
    }

    fn lattice_scatter(
        y: FloatTensor<Self>,
        positions: Vec<usize>,
        full: usize,
    ) -> FloatTensor<Self> {
        let op = LatticeBackward { gathered: false };
        let forward = |y: FlexTensor| scatter(&y, &positions, full);
        record_unary::<C, _>(op, y, (positions.clone(), full), forward)
    }
}

/// Through the extension (callers check `on_flex_f32` first).
pub fn lattice_gather(x: Tensor<4>, positions: &[usize]) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as LatticeOps>::lattice_gather(
        x.into_dispatch(),
        positions.to_vec(),
    ))
}

/// Through the extension (callers check `on_flex_f32` first).
pub fn lattice_scatter(y: Tensor<4>, positions: &[usize], full: usize) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as LatticeOps>::lattice_scatter(
        y.into_dispatch(),
        positions.to_vec(),
        full,
    ))
}
