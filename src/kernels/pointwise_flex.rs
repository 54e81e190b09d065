//! Pointwise (1×1, stride 1) convolution on Flex, forward and backward, as matrix
//! products on the NCHW data seen as [N, C, H·W], through the `gemm` crate Flex uses.
//!
//! With X[n] = x[n] as [C_in, HW], G[n] = dL/dy[n] as [C_out, HW] and W as [C_out, C_in]:
//! Y[n] = W X[n], dL/dX[n] = Wᵀ G[n], dL/dW = Σ_n G[n] X[n]ᵀ. Each product writes straight
//! into the result's buffer (Flex's matmul zero-fills a fresh buffer and copies it to
//! realign it first), and dL/dW sums over n in one [C_out, C_in] accumulator per thread
//! rather than a [N, C_out, C_in] batch reduced afterwards. Burn's generic backward goes
//! through a transposed convolution and a re-laid-out convolution instead.

use std::mem::MaybeUninit;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops};
use burn::backend::autodiff::{Autodiff, NodeId};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, Flex, backend_extension};
use burn::tensor::{Tensor, TensorData};
use gemm::Parallelism;
use rayon::prelude::*;

use super::batch_norm_flex::Prologue;
use super::flex_support::{assume_init, dims4, f32s, on_flex_f32, record_binary, uninit};

/// The extension: one op, implemented for Flex and for autodiff over Flex.
#[backend_extension(Flex, Autodiff)]
pub trait PointwiseOps: Backend {
    /// 1×1 convolution with stride 1, weight [C_out, C_in, 1, 1], no bias.
    fn pointwise_conv2d(x: FloatTensor<Self>, weight: FloatTensor<Self>) -> FloatTensor<Self>;
}

impl PointwiseOps for Flex {
    fn pointwise_conv2d(x: FlexTensor, weight: FlexTensor) -> FlexTensor {
        forward(&x, &weight, None)
    }
}

/// Y[n] = W X[n]: [C_out, C_in] · [C_in, HW]. With a prologue `pro`, X stands for pro(X),
/// each item's planes mapped into a scratch buffer of the thread first.
pub(super) fn forward(x: &FlexTensor, weight: &FlexTensor, pro: Option<&Prologue>) -> FlexTensor {
    let [n, c_in, h, w] = dims4(x);
    let c_out = dims4(weight)[0];
    let (xc, wc) = (x.to_contiguous(), weight.to_contiguous());
    let (xs, ws) = (f32s(&xc), f32s(&wc));
    let hw = h * w;
    let y = per_item(n, c_out * hw, |b, out, par| {
        let wm = Mat::row_major(ws, c_in);
        with_item(pro, &xs[b * c_in * hw..][..c_in * hw], hw, |xi| {
            let xm = Mat::row_major(xi, hw);
            product(c_out, hw, c_in, out, false, wm, xm, par)
        })
    });
    FlexTensor::from_data(TensorData::new(y, [n, c_out, h, w]))
}

/// dL/dX[n] = Wᵀ G[n]: [C_in, C_out] · [C_out, HW], X of shape `x_shape`.
pub(super) fn grad_input(
    x_shape: [usize; 4],
    weight: &FlexTensor,
    grad: &FlexTensor,
) -> FlexTensor {
    let [n, c_in, h, wd] = x_shape;
    let c_out = dims4(weight)[0];
    let hw = h * wd;
    let (gc, wc) = (grad.to_contiguous(), weight.to_contiguous());
    let (gs, ws) = (f32s(&gc), f32s(&wc));
    let gx = per_item(n, c_in * hw, |b, out, par| {
        let wt = Mat::transposed(ws, c_in);
        let gm = Mat::row_major(&gs[b * c_out * hw..], hw);
        product(c_in, hw, c_out, out, false, wt, gm, par)
    });
    FlexTensor::from_data(TensorData::new(gx, x_shape))
}

/// dL/dW = Σ_n G[n] X[n]ᵀ: [C_out, HW] · [HW, C_in], summed over a contiguous range of n
/// per thread, then over the threads; X as in [`forward`].
pub(super) fn grad_weight(
    x: &FlexTensor,
    grad: &FlexTensor,
    c_out: usize,
    pro: Option<&Prologue>,
) -> FlexTensor {
    let [n, c_in, h, wd] = dims4(x);
    let hw = h * wd;
    let (gc, xc) = (grad.to_contiguous(), x.to_contiguous());
    let (gs, xs) = (f32s(&gc), f32s(&xc));
    let parts = rayon::current_num_threads().clamp(1, n.max(1));
    let sums = per_item(parts, c_out * c_in, |t, out, par| {
        let range = (t * n / parts)..((t + 1) * n / parts);
        if range.is_empty() {
            out.fill(MaybeUninit::new(0.0));
        }
        for (i, b) in range.enumerate() {
            let gm = Mat::row_major(&gs[b * c_out * hw..], hw);
            with_item(pro, &xs[b * c_in * hw..][..c_in * hw], hw, |xi| {
                let xt = Mat::transposed(xi, hw);
                product(c_out, c_in, hw, out, i > 0, gm, xt, par)
            });
        }
    });
    let mut gw = sums[..c_out * c_in].to_vec();
    for part in sums.chunks_exact(c_out * c_in).skip(1) {
        gw.iter_mut().zip(part).for_each(|(a, b)| *a += b);
    }
    FlexTensor::from_data(TensorData::new(gw, [c_out, c_in, 1, 1]))
}

thread_local! {
    /// A thread's scratch buffer for one item mapped by a prologue.
    static SCRATCH: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// `f` of one item's planes `xs` (each `hw` values), or with a prologue of pro(xs), plane
/// by plane (plane c is channel c) in the thread's scratch buffer.
fn with_item<R>(pro: Option<&Prologue>, xs: &[f32], hw: usize, f: impl FnOnce(&[f32]) -> R) -> R {
    let Some(pro) = pro.filter(|_| hw > 0) else {
        return f(xs);
    };
    SCRATCH.with(|cell| {
        let mut buf = cell.take();
        buf.resize(xs.len(), 0.0);
        for (ch, (src, dst)) in xs
            .chunks_exact(hw)
            .zip(buf.chunks_exact_mut(hw))
            .enumerate()
        {
            pro(ch, src, dst);
        }
        let r = f(&buf);
        cell.replace(buf);
        r
    })
}

/// A strided read-only matrix: element (r, c) at `data[r·rs + c·cs]`.
#[derive(Clone, Copy)]
struct Mat<'a> {
    data: &'a [f32],
    rs: usize,
    cs: usize,
}

impl<'a> Mat<'a> {
    fn row_major(data: &'a [f32], cols: usize) -> Self {
        Mat {
            data,
            rs: cols,
            cs: 1,
        }
    }

    /// The transpose of a row-major matrix with `cols` columns.
    fn transposed(data: &'a [f32], cols: usize) -> Self {
        Mat {
            data,
            rs: 1,
            cs: cols,
        }
    }

    /// Whether an (m × k) view fits inside `data`.
    fn fits(&self, m: usize, k: usize) -> bool {
        m == 0 || k == 0 || (m - 1) * self.rs + (k - 1) * self.cs < self.data.len()
    }
}

/// out (m × n, row-major) = a (m × k) · b (k × n), or out += a · b when `accumulate`.
#[allow(clippy::too_many_arguments)]
fn product(
    m: usize,
    n: usize,
    k: usize,
    out: &mut [MaybeUninit<f32>],
    accumulate: bool,
    a: Mat,
    b: Mat,
    par: Parallelism,
) {
    assert!(
        out.len() >= m * n && a.fits(m, k) && b.fits(k, n),
        "pointwise product shapes"
    );
    if k == 0 {
        if !accumulate {
            out[..m * n].fill(MaybeUninit::new(0.0));
        }
        return;
    }
    // SAFETY: the bounds are checked above; with `accumulate` false gemm only writes `out`
    // (read_dst = false), and every out element is written.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out.as_mut_ptr().cast::<f32>(),
            1,
            n as isize,
            accumulate,
            a.data.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr(),
            b.cs as isize,
            b.rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            par,
        );
    }
}

/// A buffer of `items` × `len` values, item b's `len` values written by `fill(b, chunk,
/// parallelism)`: items in parallel, or one after another each on every thread when there
/// are fewer items than threads.
fn per_item(
    items: usize,
    len: usize,
    fill: impl Fn(usize, &mut [MaybeUninit<f32>], Parallelism) + Sync,
) -> Vec<f32> {
    let mut out = uninit(items * len);
    if len > 0 {
        if items >= rayon::current_num_threads() {
            out.par_chunks_mut(len)
                .enumerate()
                .for_each(|(b, chunk)| fill(b, chunk, Parallelism::None));
        } else {
            for (b, chunk) in out.chunks_mut(len).enumerate() {
                fill(b, chunk, Parallelism::Rayon(0));
            }
        }
    }
    // SAFETY: every `fill` here writes its whole chunk: `product` writes all m × n
    // outputs, and an empty batch range is zeroed.
    unsafe { assume_init(out) }
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
        if let Some(node) = node_x {
            grads.register::<Flex>(node.id, grad_input(dims4(&x), &w, &grad));
        }
        if let Some(node) = node_w {
            let c_out = dims4(&w)[0];
            grads.register::<Flex>(node.id, grad_weight(&x, &grad, c_out, None));
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
