//! What our Flex kernels share: which tensors they take, reading a Flex tensor's values,
//! output buffers filled plane by plane in parallel, and recording one- and two-input ops
//! for autodiff as Burn records its own convolutions.

use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::ops::{Backward, OpsKind};
use burn::backend::autodiff::{Autodiff, NodeId};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{DispatchDevice, Flex};
use burn::tensor::{DType, Tensor};
use std::mem::MaybeUninit;

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

/// y = forward(x) on Flex for an op whose backward needs only `state` (x is not kept).
pub fn record_unary<C, O>(
    op: O,
    x: FloatTensor<Autodiff<Flex, C>>,
    state: O::State,
    forward: impl FnOnce(FlexTensor) -> FlexTensor,
) -> FloatTensor<Autodiff<Flex, C>>
where
    C: CheckpointStrategy,
    O: Backward<Flex, 1> + 'static,
{
    match op.prepare::<C>([x.node()]).compute_bound().stateful() {
        OpsKind::Tracked(prep) => {
            let y = forward(x.into_primitive());
            prep.finish(state, y)
        }
        OpsKind::UnTracked(prep) => prep.finish(forward(x.into_primitive())),
    }
}

/// Defines `fn $name` whose body runs compiled for AVX2 + FMA where the CPU has them
/// (checked at run time; the crate is built for baseline x86-64), else as built: the
/// body is an `#[inline(always)]` inner fn, called from a `#[target_feature]` copy. The
/// fn may be generic over one type (`<A: Bound>`) or over `usize` constants.
macro_rules! wide_simd {
    ($(#[$m:meta])* fn $name:ident<$(const $K:ident: usize),+>($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$m])*
        fn $name<$(const $K: usize),+>($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn body<$(const $K: usize),+>($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma")]
                unsafe fn wide<$(const $K: usize),+>($($arg: $ty),*) $(-> $ret)? {
                    body::<$($K),+>($($arg),*)
                }
                if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                    // SAFETY: the CPU has the features `wide` is compiled for.
                    return unsafe { wide::<$($K),+>($($arg),*) };
                }
            }
            body::<$($K),+>($($arg),*)
        }
    };
    ($(#[$m:meta])* fn $name:ident$(<$A:ident: $bound:path>)?($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$m])*
        fn $name$(<$A: $bound>)?($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn body$(<$A: $bound>)?($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma")]
                unsafe fn wide$(<$A: $bound>)?($($arg: $ty),*) $(-> $ret)? {
                    body($($arg),*)
                }
                if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                    // SAFETY: the CPU has the features `wide` is compiled for.
                    return unsafe { wide($($arg),*) };
                }
            }
            body($($arg),*)
        }
    };
}
pub(crate) use wide_simd;

/// Lanes of the vectorised reductions (partial sums kept per lane, added at the end).
pub const LANES: usize = 8;

/// Σ_i f(x_i, y_i) over two equally long slices, in [`LANES`] partial sums: one
/// accumulator per call, so that the compiler vectorises it across lanes (float sums are
/// not reassociated otherwise).
#[inline(always)]
pub fn lane_sum(xs: &[f32], ys: &[f32], f: impl Fn(f32, f32) -> f32) -> f32 {
    let mut acc = [0f32; LANES];
    let (xc, yc) = (xs.chunks_exact(LANES), ys.chunks_exact(LANES));
    let (xt, yt) = (xc.remainder(), yc.remainder());
    for (x, y) in xc.zip(yc) {
        let x: &[f32; LANES] = x.try_into().expect("a whole chunk");
        let y: &[f32; LANES] = y.try_into().expect("a whole chunk");
        for l in 0..LANES {
            acc[l] += f(x[l], y[l]);
        }
    }
    let mut total: f32 = acc.iter().sum();
    for (&x, &y) in xt.iter().zip(yt) {
        total += f(x, y);
    }
    total
}

/// A buffer of `len` values (a whole number of `plane`-sized planes) whose plane i is
/// written by `fill(i, plane)`, planes in parallel. Each plane is zeroed by the thread that
/// fills it, just before, while it is in cache: no serial pass over the whole buffer as
/// `vec![0.0; len]` makes on the calling thread.
pub fn par_planes(len: usize, plane: usize, fill: impl Fn(usize, &mut [f32]) + Sync) -> Vec<f32> {
    par_planes_init(len, plane, || (), |_, i, p| fill(i, p))
}

/// [`par_planes`] with a scratch value per worker made by `init` (rayon's `for_each_init`).
pub fn par_planes_init<T>(
    len: usize,
    plane: usize,
    init: impl Fn() -> T + Sync + Send,
    fill: impl Fn(&mut T, usize, &mut [f32]) + Sync + Send,
) -> Vec<f32> {
    use rayon::prelude::*;
    if len == 0 || plane == 0 {
        return vec![0.0; len];
    }
    assert!(len.is_multiple_of(plane), "whole planes");
    let mut out = uninit(len);
    out.par_chunks_mut(plane)
        .enumerate()
        .for_each_init(init, |state, (i, chunk)| {
            for v in chunk.iter_mut() {
                v.write(0.0);
            }
            // SAFETY: every element of the chunk was just written.
            let values = unsafe { &mut *(chunk as *mut [MaybeUninit<f32>] as *mut [f32]) };
            fill(state, i, values);
        });
    // SAFETY: every element was written (zeroed above).
    unsafe { assume_init(out) }
}

/// A buffer of `len` values not written yet.
pub fn uninit(len: usize) -> Vec<MaybeUninit<f32>> {
    let mut out = Vec::with_capacity(len);
    // SAFETY: MaybeUninit needs no initialisation.
    unsafe { out.set_len(len) };
    out
}

/// The values of a buffer from [`uninit`], handed over without a copy.
///
/// # Safety
/// Every element of `v` has been written.
pub unsafe fn assume_init(v: Vec<MaybeUninit<f32>>) -> Vec<f32> {
    let mut v = std::mem::ManuallyDrop::new(v);
    // SAFETY: MaybeUninit<f32> has f32's layout, the caller vouches that every element is
    // written, and the allocation is handed over whole.
    unsafe { Vec::from_raw_parts(v.as_mut_ptr().cast::<f32>(), v.len(), v.capacity()) }
}
