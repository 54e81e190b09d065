//! Depthwise convolution on Flex, forward and backward.
//!
//! The forward holds a block of outputs (up to 8 rows by LANES, or fewer rows by 2 or 4
//! LANES-wide chunks) in registers across all k × k taps, reading a zero-padded copy of
//! the input plane split into s column phases (so a stride-s tap is a contiguous load);
//! each tap's weight is loaded once per block. Flex's own depthwise path instead adds
//! every tap into the output plane in memory, k² read-modify-write passes.
//!
//! Burn's generic backward (burn-backend `conv2d_x_backward` / `conv2d_weight_backward`,
//! which Flex does not override) computes the input gradient as a grouped transposed
//! convolution and the weight gradient as one convolution per channel. Here both walk the
//! NCHW planes directly:
//!
//! - dL/dx[n,c,iy,ix] = Σ_{i,j} w[c,i,j] · g[n,c,oy,ox] with iy = oy·s − p + i,
//!   ix = ox·s − p + j: for stride 1 a correlation of g with the flipped kernel (the
//!   forward above), else computed per input phase (iy mod s, ix mod s) as a stride-1
//!   correlation with the taps of that phase (`PhasePlanes`), parallel over planes;
//! - dL/dw[c,i,j] = Σ_{n,oy,ox} g[n,c,oy,ox] · x[n,c,oy·s − p + i, ox·s − p + j],
//!   parallel over channels, planes summed in f64: for stride 1 or 2, kernels of 3, 5 or 7
//!   and output rows a whole number of 8 or 4 lanes wide, one walk down a zero-padded copy
//!   of the plane (its columns split into s phases) per column tap and column chunk, each
//!   row's load meeting the gradient rows it pairs with (`RowPlane`, `ring_sums`);
//!   otherwise per tap one contiguous dot product over a plane laid out by taps
//!   (`TapPlanes`, `tap_sums`).

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops};
use burn::backend::autodiff::{Autodiff, NodeId};
use burn::backend::flex::FlexTensor;
use burn::backend::ops::FloatTensorOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, Flex, backend_extension};
use burn::tensor::{Tensor, TensorData};
use rayon::prelude::*;

use super::batch_norm_flex::Prologue;
use super::flex_support::{
    LANES, dims4, f32s, on_flex_f32, par_planes_init, record_binary, wide_simd,
};

/// The extension: one op, implemented for Flex and for autodiff over Flex.
#[backend_extension(Flex, Autodiff)]
pub trait DepthwiseOps: Backend {
    /// Depthwise convolution, weight [C, 1, k, k], symmetric zero padding, no bias.
    fn depthwise_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self>;
}

impl DepthwiseOps for Flex {
    fn depthwise_conv2d(
        x: FlexTensor,
        weight: FlexTensor,
        stride: usize,
        padding: usize,
    ) -> FlexTensor {
        let g = Geom::new(dims4(&x), dims4(&weight), stride, padding);
        forward(&g, &x, &weight, None)
    }
}

#[derive(Debug)]
struct DepthwiseBackward;

impl Backward<Flex, 2> for DepthwiseBackward {
    /// (x, weight, stride, padding).
    type State = (NodeId, NodeId, usize, usize);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, cp: &mut Checkpointer) {
        let [node_x, node_w] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let (x_id, w_id, stride, padding) = ops.state;
        let x: FlexTensor = cp.retrieve_node_output(x_id);
        let w: FlexTensor = cp.retrieve_node_output(w_id);
        let geom = Geom::new(dims4(&x), dims4(&w), stride, padding);
        if let Some(node) = node_x {
            grads.register::<Flex>(node.id, grad_input(&geom, &w, &grad));
        }
        if let Some(node) = node_w {
            grads.register::<Flex>(node.id, grad_weight(&geom, &x, &grad, None));
        }
    }
}

impl<C: CheckpointStrategy> DepthwiseOps for Autodiff<Flex, C> {
    fn depthwise_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self> {
        record_binary::<C, _>(
            DepthwiseBackward,
            x,
            weight,
            |x, w| (x, w, stride, padding),
            |x, w| <Flex as DepthwiseOps>::depthwise_conv2d(x, w, stride, padding),
        )
    }
}

/// Flex (plain or autodiff), f32, weight [C, 1, k, k] over x's C channels.
pub fn supports(x: &Tensor<4>, weight: &Tensor<4>) -> bool {
    let ([_, c, _, _], [cw, one, k, k2]) = (x.dims(), weight.dims());
    on_flex_f32(x) && on_flex_f32(weight) && cw == c && one == 1 && k == k2
}

/// Through the extension (callers check [`supports`] first).
pub fn depthwise_conv2d(
    x: Tensor<4>,
    weight: Tensor<4>,
    stride: usize,
    padding: usize,
) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as DepthwiseOps>::depthwise_conv2d(
        x.into_dispatch(),
        weight.into_dispatch(),
        stride,
        padding,
    ))
}

/// Shapes of one depthwise convolution.
#[derive(Clone, Copy, Debug)]
pub(super) struct Geom {
    c: usize,
    h: usize,
    w: usize,
    k: usize,
    s: usize,
    p: usize,
    oh: usize,
    ow: usize,
    x_shape: [usize; 4],
}

impl Geom {
    pub(super) fn new(x: [usize; 4], weight: [usize; 4], s: usize, p: usize) -> Self {
        let [_, c, h, w] = x;
        let k = weight[2];
        Geom {
            c,
            h,
            w,
            k,
            s,
            p,
            oh: (h + 2 * p - k) / s + 1,
            ow: (w + 2 * p - k) / s + 1,
            x_shape: x,
        }
    }

    /// The forward's zero-padded, phase-split input plane: whole LANES-wide chunks of every
    /// output row can be read.
    fn padded(&self) -> Padded {
        Padded {
            rows: (self.oh - 1) * self.s + self.k,
            len: self.ow.div_ceil(LANES) * LANES + (self.k - 1) / self.s,
        }
    }

    /// Offset of tap (i, j) (row-major) in a [`Padded`] plane from the first read of output
    /// (oy, ox) = (0, 0).
    fn taps(&self, pad: Padded) -> Vec<usize> {
        (0..self.k * self.k)
            .map(|t| {
                let (i, j) = (t / self.k, t % self.k);
                ((j % self.s) * pad.rows + i) * pad.len + j / self.s
            })
            .collect()
    }

    /// Output columns ox whose input column ox·s − p + j lies inside [0, w).
    fn cols(&self, j: usize) -> std::ops::Range<usize> {
        let lo = self.p.saturating_sub(j).div_ceil(self.s);
        let hi = (self.w + self.p)
            .saturating_sub(j)
            .div_ceil(self.s)
            .min(self.ow);
        lo..hi.max(lo)
    }
}

/// y[n,c,oy,ox] = Σ_{i,j} w[c,i,j] · x[n,c,oy·s − p + i, ox·s − p + j]: one (n, c) plane
/// per task, copied into a zero-padded buffer whose columns are split into s phases
/// (padded column t goes to phase t mod s, position t / s), then [`conv_rows`]. With a
/// prologue `pro`, x stands for pro(x) (x's plane mapped into a scratch plane first).
pub(super) fn forward(
    g: &Geom,
    x: &FlexTensor,
    weight: &FlexTensor,
    pro: Option<&Prologue>,
) -> FlexTensor {
    let (xc, wc) = (x.to_contiguous(), weight.to_contiguous());
    let (xs, ws) = (f32s(&xc), f32s(&wc));
    let (hw, ohw, kk) = (g.h * g.w, g.oh * g.ow, g.k * g.k);
    let n = g.x_shape[0];
    let pad = g.padded();
    let taps = g.taps(pad);
    // Input column col lands in phase (col + p) mod s at (col + p) / s: phase q takes the
    // columns first(q), first(q) + s, ... from position (first(q) + p) / s on.
    let phases: Vec<(usize, usize)> = (0..g.s)
        .map(|q| {
            let first = (q + g.s - g.p % g.s) % g.s;
            (first, (first + g.p) / g.s)
        })
        .collect();
    let y = par_planes_init(
        n * g.c * ohw,
        ohw,
        // Only data positions are written, the same for every plane: the padding stays 0.
        || (vec![0f32; g.s * pad.rows * pad.len], scratch(pro, hw)),
        |(buf, mapped), nc, yp| {
            let xp = mapped_plane(pro, nc % g.c, &xs[nc * hw..][..hw], mapped);
            for (r, row) in xp
                .chunks_exact(g.w)
                .enumerate()
                .take(pad.rows - g.p.min(pad.rows))
            {
                for (q, &(first, at)) in phases.iter().enumerate() {
                    let dst = &mut buf[(q * pad.rows + r + g.p) * pad.len..][..pad.len];
                    let dst = &mut dst[at.min(pad.len)..];
                    if g.s == 1 {
                        let m = dst.len().min(row.len());
                        dst[..m].copy_from_slice(&row[..m]);
                    } else {
                        for (d, &v) in dst.iter_mut().zip(row.iter().skip(first).step_by(g.s)) {
                            *d = v;
                        }
                    }
                }
            }
            let wk = &ws[(nc % g.c) * kk..][..kk];
            conv_rows(&Conv::new(g, pad, buf, &taps, wk), yp);
        },
    );
    FlexTensor::from_data(TensorData::new(y, [n, g.c, g.oh, g.ow]))
}

/// A scratch plane for a prologue's output (empty without one).
fn scratch(pro: Option<&Prologue>, hw: usize) -> Vec<f32> {
    vec![0f32; if pro.is_some() { hw } else { 0 }]
}

/// Plane `xp` of channel `ch`, or with a prologue pro(xp), written into `mapped`.
fn mapped_plane<'a>(
    pro: Option<&Prologue>,
    ch: usize,
    xp: &'a [f32],
    mapped: &'a mut [f32],
) -> &'a [f32] {
    match pro {
        Some(f) => {
            f(ch, xp, mapped);
            mapped
        }
        None => xp,
    }
}

/// A zero-padded input plane split into column phases: `rows` rows of `len` per phase.
#[derive(Clone, Copy, Debug)]
struct Padded {
    rows: usize,
    len: usize,
}

/// One plane's forward: the phase-split padded input `buf`, each tap's offset in it
/// (`taps`, row-major over (i, j)), the largest of them (`reach`) and the tap weights `wk`.
#[derive(Clone, Copy)]
struct Conv<'a> {
    g: &'a Geom,
    pad: Padded,
    buf: &'a [f32],
    taps: &'a [usize],
    reach: usize,
    wk: &'a [f32],
}

/// The top-left output of a block.
#[derive(Clone, Copy)]
struct Block {
    oy: usize,
    ox: usize,
}

impl<'a> Conv<'a> {
    fn new(g: &'a Geom, pad: Padded, buf: &'a [f32], taps: &'a [usize], wk: &'a [f32]) -> Self {
        let reach = taps.iter().max().map_or(0, |&t| t);
        Conv {
            g,
            pad,
            buf,
            taps,
            reach,
            wk,
        }
    }

    /// Where block `at` of R rows by C chunks reads: the output (at.oy, at.ox)'s offset in
    /// `buf`, and one output row's step. Checks once that every read ends inside `buf`.
    fn block_reads<const R: usize, const C: usize>(&self, at: Block) -> (usize, usize) {
        let (base, step) = (
            at.oy * self.g.s * self.pad.len + at.ox,
            self.g.s * self.pad.len,
        );
        assert!(
            base + self.reach + (R - 1) * step + C * LANES <= self.buf.len()
                && self.wk.len() >= self.taps.len(),
            "a block inside the plane"
        );
        (base, step)
    }

    /// Writes block `at`'s sums into the output plane `yp` (the last chunk cut at ow).
    fn store<const R: usize, const C: usize>(
        &self,
        at: Block,
        acc: &[[[f32; LANES]; C]; R],
        yp: &mut [f32],
    ) {
        let ow = self.g.ow;
        for (o, acc) in acc.iter().enumerate() {
            let out = &mut yp[(at.oy + o) * ow..][..ow];
            for (c, a) in acc.iter().enumerate() {
                let ox = at.ox + c * LANES;
                let m = LANES.min(ow - ox);
                out[ox..ox + m].copy_from_slice(&a[..m]);
            }
        }
    }
}

/// Walks a plane in blocks of up to 8 register sums, `$block::<R, C>(cv, at, yp)`: R output
/// rows by C LANES-wide column chunks, C = 4, 2 or 1 as the row's chunks allow, R = 8 / C
/// or fewer at the bottom.
macro_rules! by_blocks {
    ($cv:ident, $yp:ident, $block:ident) => {{
        let g = $cv.g;
        let chunks = g.ow.div_ceil(LANES);
        let mut ch = 0;
        while ch < chunks {
            let c = match chunks - ch {
                4.. => 4,
                2 | 3 => 2,
                _ => 1,
            };
            let mut oy = 0;
            while oy < g.oh {
                let at = Block { oy, ox: ch * LANES };
                oy += match (c, (g.oh - oy).min(8 / c)) {
                    (4, 2..) => $block::<2, 4>($cv, at, $yp),
                    (4, _) => $block::<1, 4>($cv, at, $yp),
                    (2, 4..) => $block::<4, 2>($cv, at, $yp),
                    (2, 2 | 3) => $block::<2, 2>($cv, at, $yp),
                    (2, _) => $block::<1, 2>($cv, at, $yp),
                    (_, 8..) => $block::<8, 1>($cv, at, $yp),
                    (_, 4..) => $block::<4, 1>($cv, at, $yp),
                    (_, 2 | 3) => $block::<2, 1>($cv, at, $yp),
                    _ => $block::<1, 1>($cv, at, $yp),
                };
            }
            ch += c;
        }
    }};
}

/// y[oy, ox] = Σ_{i,j} w[i, j] · xp[oy·s + i, ox·s + j] over the phase-split padded plane,
/// block by block ([`by_blocks`]), each block's sums held in registers over all taps: a
/// tap's weight is broadcast once for the block's R × C chunks. With AVX2, in 8-lane
/// vectors ([`conv_block_avx2`]); else [`conv_block`], the reference: the same products
/// added in the same order, so the same bits.
fn conv_rows(cv: &Conv, yp: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2.
        return unsafe { conv_rows_avx2(cv, yp) };
    }
    conv_rows_reference(cv, yp)
}

/// [`conv_rows`] without vector intrinsics.
fn conv_rows_reference(cv: &Conv, yp: &mut [f32]) {
    by_blocks!(cv, yp, conv_block)
}

/// Block `at`: R output rows by C chunks, each output's taps added in the order i, then j,
/// from 0 (as a tap-by-tap loop adds them). Returns R.
fn conv_block<const R: usize, const C: usize>(cv: &Conv, at: Block, yp: &mut [f32]) -> usize {
    let (base, step) = cv.block_reads::<R, C>(at);
    let mut acc = [[[0f32; LANES]; C]; R];
    for (&off, &wv) in cv.taps.iter().zip(cv.wk) {
        for (o, acc) in acc.iter_mut().enumerate() {
            let row = &cv.buf[base + off + o * step..][..C * LANES];
            for (a, x) in acc.iter_mut().zip(row.chunks_exact(LANES)) {
                for l in 0..LANES {
                    a[l] += wv * x[l];
                }
            }
        }
    }
    cv.store(at, &acc, yp);
    R
}

/// [`conv_rows`] with AVX2 ([`conv_block_avx2`]).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn conv_rows_avx2(cv: &Conv, yp: &mut [f32]) {
    by_blocks!(cv, yp, conv_block_avx2)
}

/// [`conv_block`] in 8-lane vectors: a multiply, then an add (no fused multiply-add), as
/// the reference rounds. Index loops over the constant R and C, as measured: a version
/// written with iterators was compiled with the sums stored to the stack at every tap
/// (read from its disassembly; which of its loops caused that was not isolated).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[allow(clippy::needless_range_loop)]
fn conv_block_avx2<const R: usize, const C: usize>(cv: &Conv, at: Block, yp: &mut [f32]) -> usize {
    use std::arch::x86_64::*;
    const { assert!(LANES == 8, "one __m256 per chunk") };
    let (base, step) = cv.block_reads::<R, C>(at);
    let mut acc = [[_mm256_setzero_ps(); C]; R];
    let first = cv.buf[base..].as_ptr();
    for t in 0..cv.taps.len() {
        let w = _mm256_set1_ps(cv.wk[t]);
        // SAFETY: off + o·step + c·LANES + LANES ≤ buf.len() − base for o < R, c < C and
        // every tap's offset off, as `block_reads` asserted.
        let at = unsafe { first.add(cv.taps[t]) };
        for o in 0..R {
            for c in 0..C {
                // SAFETY: as above.
                let x = unsafe { _mm256_loadu_ps(at.add(o * step + c * LANES)) };
                acc[o][c] = _mm256_add_ps(acc[o][c], _mm256_mul_ps(w, x));
            }
        }
    }
    let mut sums = [[[0f32; LANES]; C]; R];
    for o in 0..R {
        for c in 0..C {
            // SAFETY: sums[o][c] holds LANES = 8 floats.
            unsafe { _mm256_storeu_ps(sums[o][c].as_mut_ptr(), acc[o][c]) };
        }
    }
    cv.store(at, &sums, yp);
    R
}

/// dL/dx. For stride 1 it is the depthwise correlation of the output gradient with the
/// flipped kernel and padding k − 1 − p (the forward above); for other strides the input
/// plane is computed phase by phase ([`PhasePlanes`]), one (n, c) plane per task.
pub(super) fn grad_input(g: &Geom, weight: &FlexTensor, grad: &FlexTensor) -> FlexTensor {
    if g.s == 1 && g.p < g.k {
        let flipped = Flex::float_flip(weight.clone(), &[2, 3]);
        let back = Geom::new(dims4(grad), dims4(&flipped), 1, g.k - 1 - g.p);
        return forward(&back, grad, &flipped, None);
    }
    let (wc, gc) = (weight.to_contiguous(), grad.to_contiguous());
    let (ws, gs) = (f32s(&wc), f32s(&gc));
    let (hw, ohw, kk) = (g.h * g.w, g.oh * g.ow, g.k * g.k);
    let n = g.x_shape[0];
    let pp = PhasePlanes::new(g);
    let gx = par_planes_init(
        n * g.c * hw,
        hw,
        || (vec![0f32; pp.len()], vec![0f32; pp.most()]),
        |(buf, phase), nc, gxp| {
            pp.fill(g, &gs[nc * ohw..][..ohw], buf);
            pp.input_plane(g, &ws[(nc % g.c) * kk..][..kk], buf, phase, gxp);
        },
    );
    FlexTensor::from_data(TensorData::new(gx, g.x_shape))
}

/// One (n, c) output-gradient plane laid out for the input gradient of a stride-s
/// convolution. Input phase (a, b) is gx[u·s + a, v·s + b] (U_a × V_b values): it takes the
/// taps i = i₀ + s·m, j = j₀ + s·n with i₀ ≡ a + p, j₀ ≡ b + p (mod s), and
/// gx[u·s + a, v·s + b] = Σ_{m,n} w[i, j] · gy[u + d_a − m, v + d_b − n], d = ⌊(phase + p) / s⌋.
/// Per column phase b and column tap n the buffer holds G_{b,n}[r, v] = gy[r − P, v + d_b − n]
/// (0 outside the plane, P = ⌊(k − 1) / s⌋ rows above), V_b wide, so that each tap of a
/// phase reads one contiguous run of U_a·V_b values.
struct PhasePlanes {
    /// Rows of G above gy's first row (P).
    top: usize,
    /// Rows of each G_{b,n}.
    rows: usize,
    /// Column taps per column phase: at most ⌈k / s⌉.
    taps: usize,
    /// V_b.
    widths: Vec<usize>,
    /// Where G_{b,n} starts, at b·taps + n; the buffer's length last.
    starts: Vec<usize>,
}

impl PhasePlanes {
    fn new(g: &Geom) -> Self {
        let s = g.s;
        let top = (g.k - 1) / s;
        // Indices below len in phase a: ⌈(len − a) / s⌉, 0 when a ≥ len.
        let phases = |len: usize| (0..s).map(move |a| (len + s - 1 - a.min(len)) / s);
        let most_rows = phases(g.h).max().unwrap_or(0);
        // Every phase's runs, and every row of gy placed `top` rows down.
        let rows = (most_rows + g.p.div_ceil(s) + top).max(g.oh + top);
        let taps = g.k.div_ceil(s);
        let widths: Vec<usize> = phases(g.w).collect();
        let mut starts = Vec::with_capacity(s * taps + 1);
        let mut at = 0;
        for &v in &widths {
            for _ in 0..taps {
                starts.push(at);
                at += rows * v;
            }
        }
        starts.push(at);
        PhasePlanes {
            top,
            rows,
            taps,
            widths,
            starts,
        }
    }

    /// Values in the buffer of one plane.
    fn len(&self) -> usize {
        self.starts.last().copied().unwrap_or(0)
    }

    /// Values in the largest phase.
    fn most(&self) -> usize {
        self.rows * self.widths.iter().max().copied().unwrap_or(0)
    }

    /// Writes gy's values where they go in `buf`; the zeros are the same for every plane.
    fn fill(&self, g: &Geom, gy: &[f32], buf: &mut [f32]) {
        for (b, &vb) in self.widths.iter().enumerate() {
            let db = (b + g.p) / g.s;
            for n in 0..self.taps {
                // Columns v with 0 ≤ v + d_b − n < ow.
                let lo = n.saturating_sub(db).min(vb);
                let hi = (g.ow + n).saturating_sub(db).min(vb);
                if hi <= lo {
                    continue;
                }
                let src0 = lo + db - n;
                let at = self.starts[b * self.taps + n];
                for oy in 0..g.oh {
                    let dst = &mut buf[at + (oy + self.top) * vb..][lo..hi];
                    dst.copy_from_slice(&gy[oy * g.ow + src0..][..hi - lo]);
                }
            }
        }
    }

    /// gx over one plane from `buf` (see [`PhasePlanes::fill`]), phase by phase through
    /// `scratch`.
    fn input_plane(&self, g: &Geom, wk: &[f32], buf: &[f32], scratch: &mut [f32], gx: &mut [f32]) {
        let s = g.s;
        let mut runs = Vec::with_capacity(self.taps * self.taps);
        for a in 0..s.min(g.h) {
            let (i0, da) = ((a + g.p) % s, (a + g.p) / s);
            let ua = (g.h - a).div_ceil(s);
            for (b, &vb) in self.widths.iter().enumerate().take(g.w) {
                let j0 = (b + g.p) % s;
                runs.clear();
                for m in (0..).take_while(|m| i0 + s * m < g.k) {
                    for n in (0..).take_while(|n| j0 + s * n < g.k) {
                        let row = da + self.top - m;
                        let at = self.starts[b * self.taps + n] + row * vb;
                        runs.push((at, wk[(i0 + s * m) * g.k + j0 + s * n]));
                    }
                }
                let out = &mut scratch[..ua * vb];
                tap_runs(buf, &runs, out);
                for (u, row) in out.chunks_exact(vb).enumerate() {
                    let dst = &mut gx[(u * s + a) * g.w..][..g.w];
                    for (d, &v) in dst[b..].iter_mut().step_by(s).zip(row) {
                        *d = v;
                    }
                }
            }
        }
    }
}

wide_simd! {
    /// out[t] = Σ_r w_r · buf[o_r + t] over `runs` (o_r, w_r), 2 × LANES outputs at a time
    /// held in registers over all runs.
    fn tap_runs(buf: &[f32], runs: &[(usize, f32)], out: &mut [f32]) {
        const W: usize = 2 * LANES;
        let l = out.len();
        let mut t = 0;
        while t + W <= l {
            let mut acc = [0f32; W];
            for &(o, wv) in runs {
                let x: &[f32; W] = buf[o + t..][..W].try_into().expect("two chunks");
                for u in 0..W {
                    acc[u] += wv * x[u];
                }
            }
            out[t..t + W].copy_from_slice(&acc);
            t += W;
        }
        for t in t..l {
            out[t] = runs.iter().map(|&(o, wv)| wv * buf[o + t]).sum();
        }
    }
}

/// One (n, c) input plane laid out for its k × k taps: for each column tap j and row phase
/// q < s, `rows` rows of S_{j,q}[r, ox] = x[r·s + q − p, ox·s + j − p] (0 outside the
/// image), ow wide. Tap (i, j) of output (oy, ox) reads S_{j, i mod s}[oy + ⌊i / s⌋, ox], so
/// one tap's inputs for the whole output plane are a single contiguous run of oh·ow values
/// in the plane's own order, whatever the stride and however narrow the plane.
#[derive(Clone, Copy, Debug)]
struct TapPlanes {
    rows: usize,
    ow: usize,
}

impl TapPlanes {
    fn new(g: &Geom) -> Self {
        TapPlanes {
            rows: g.oh + (g.k - 1) / g.s,
            ow: g.ow,
        }
    }

    /// Values in the buffer of one plane.
    fn len(&self, g: &Geom) -> usize {
        g.k * g.s * self.rows * self.ow
    }

    /// Where S_{j,q} starts.
    fn start(&self, g: &Geom, j: usize, q: usize) -> usize {
        (j * g.s + q) * self.rows * self.ow
    }

    /// Writes plane `xp`'s values where they go in `buf`. The zeros are the same for every
    /// plane, so a buffer that starts zeroed is reused as is.
    fn fill(&self, g: &Geom, cols: &[std::ops::Range<usize>], xp: &[f32], buf: &mut [f32]) {
        for (j, c) in cols.iter().enumerate() {
            let first = (c.start * g.s + j).wrapping_sub(g.p);
            for q in 0..g.s {
                let at = self.start(g, j, q);
                for r in 0..self.rows {
                    let Some(iy) = (r * g.s + q).checked_sub(g.p).filter(|&y| y < g.h) else {
                        continue;
                    };
                    let src = &xp[iy * g.w..][..g.w];
                    let dst = &mut buf[at + r * self.ow..][c.clone()];
                    if g.s == 1 {
                        dst.copy_from_slice(&src[first..][..dst.len()]);
                    } else {
                        for (d, &v) in dst.iter_mut().zip(src[first..].iter().step_by(g.s)) {
                            *d = v;
                        }
                    }
                }
            }
        }
    }
}

/// [Σ_t a[t] · b[m·step + t] for m < M]: M dot products of `a` with runs of `b` `step`
/// apart, in 2 × M independent LANES-wide partial sums (each `a` chunk loaded once).
#[inline(always)]
fn dots<const M: usize>(a: &[f32], b: &[f32], step: usize) -> [f32; M] {
    let l = a.len();
    assert!(M == 0 || (M - 1) * step + l <= b.len(), "runs inside b");
    let mut acc = [[[0f32; LANES]; 2]; M];
    let pairs = l / (2 * LANES) * 2 * LANES;
    let mut t = 0;
    while t < pairs {
        let x: &[f32; 2 * LANES] = a[t..t + 2 * LANES].try_into().expect("two chunks");
        for (m, acc) in acc.iter_mut().enumerate() {
            let y: &[f32; 2 * LANES] = b[m * step + t..][..2 * LANES]
                .try_into()
                .expect("two chunks");
            for u in 0..2 {
                for l in 0..LANES {
                    acc[u][l] += x[u * LANES + l] * y[u * LANES + l];
                }
            }
        }
        t += 2 * LANES;
    }
    let mut out = [0f32; M];
    for (m, o) in out.iter_mut().enumerate() {
        let y = &b[m * step..];
        let mut tail = 0f32;
        for t in t..l {
            tail += a[t] * y[t];
        }
        let lanes: f32 = (0..LANES).map(|l| acc[m][0][l] + acc[m][1][l]).sum();
        *o = lanes + tail;
    }
    out
}

wide_simd! {
    /// acc[i·k + j] += Σ_{oy,ox} gy[oy, ox] · x[oy·s − p + i, ox·s − p + j] over one plane
    /// laid out as [`TapPlanes`] in `buf`: per (j, q) the taps i ≡ q (mod s) share each
    /// load of gy.
    fn tap_sums(g: &Geom, tp: TapPlanes, buf: &[f32], gy: &[f32], acc: &mut [f64]) {
        for j in 0..g.k {
            for q in 0..g.s.min(g.k) {
                let run = &buf[tp.start(g, j, q)..][..tp.rows * tp.ow];
                let taps = (g.k - q).div_ceil(g.s);
                let mut add = |m: usize, v: f32| acc[(q + m * g.s) * g.k + j] += v as f64;
                macro_rules! by {
                    ($($m:literal)*) => {
                        match taps {
                            $($m => dots::<$m>(gy, run, tp.ow).into_iter().enumerate().for_each(|(m, v)| add(m, v)),)*
                            _ => (0..taps).for_each(|m| add(m, dots::<1>(gy, &run[m * tp.ow..], 0)[0])),
                        }
                    };
                }
                by!(1 2 3 4 5 6 7);
            }
        }
    }
}

/// One (n, c) input plane zero-padded for the row-ring weight gradient, its columns split
/// into s phases: phase q, row r, position u holds x[r − p, u·s + q − p] (0 outside the
/// image), `rows` = s·(oh − 1) + k rows of `width` = ow + (k − 1) / s. Tap (i, j) of
/// output (oy, ox) reads row r = oy·s + i of phase j mod s at u = ox + j / s, so a tap's
/// run of outputs along a row is a contiguous load whatever the stride.
#[derive(Clone, Copy, Debug)]
struct RowPlane {
    rows: usize,
    width: usize,
}

impl RowPlane {
    fn new(g: &Geom) -> Self {
        RowPlane {
            rows: g.s * (g.oh - 1) + g.k,
            width: g.ow + (g.k - 1) / g.s,
        }
    }

    fn len(&self, g: &Geom) -> usize {
        g.s * self.rows * self.width
    }

    /// Where row r of phase q starts.
    fn row(&self, q: usize, r: usize) -> usize {
        (q * self.rows + r) * self.width
    }

    /// Writes plane `xp`'s values where they go in `buf` (stride 1: a copy per row; stride
    /// 2: [`Self::fill_pairs`]); the border stays as it is (0).
    fn fill(&self, g: &Geom, xp: &[f32], buf: &mut [f32]) {
        for (iy, src) in xp.chunks_exact(g.w).enumerate() {
            let r = iy + g.p;
            if r >= self.rows {
                break;
            }
            if g.s == 1 {
                let cols = g.w.min(self.width - g.p);
                buf[self.row(0, r) + g.p..][..cols].copy_from_slice(&src[..cols]);
                continue;
            }
            debug_assert_eq!(g.s, 2, "row_ring_lanes admits strides 1 and 2 only");
            self.fill_pairs(g, r, src, buf);
        }
    }

    /// Stride 2: padded column t = ix + p goes to phase t mod 2 at u = t / 2, so the even
    /// columns ix = 2v go to phase p mod 2 at ⌊p / 2⌋ + v and the odd ones to the other
    /// phase at ⌈p / 2⌉ + v: one pass over the row's pairs, writing both phases.
    fn fill_pairs(&self, g: &Geom, r: usize, src: &[f32], buf: &mut [f32]) {
        let (qe, qo) = (g.p % 2, 1 - g.p % 2);
        let (ue, uo) = (g.p / 2, g.p.div_ceil(2));
        let ne = g.w.div_ceil(2).min(self.width.saturating_sub(ue));
        let no = (g.w / 2).min(self.width.saturating_sub(uo));
        let (ie, io) = (self.row(qe, r) + ue, self.row(qo, r) + uo);
        let both = ne.min(no);
        for (v, pair) in src.chunks_exact(2).take(both).enumerate() {
            buf[ie + v] = pair[0];
            buf[io + v] = pair[1];
        }
        for v in both..ne {
            buf[ie + v] = src[2 * v];
        }
        for v in both..no {
            buf[io + v] = src[2 * v + 1];
        }
    }
}

/// The lanes of the row-ring weight gradient for this geometry: stride 1 or 2, kernels of
/// 3, 5 or 7, and output rows a whole number of 8 (else 4) lanes wide; `None` where it
/// does not apply.
fn row_ring_lanes(g: &Geom) -> Option<usize> {
    if !matches!(g.s, 1 | 2) || !matches!(g.k, 3 | 5 | 7) {
        return None;
    }
    [LANES, LANES / 2]
        .into_iter()
        .find(|&l| g.ow.is_multiple_of(l))
}

wide_simd! {
    /// acc[i·k + j] += Σ_{oy,ox} gy[oy, ox] · x[oy·S + i − p, ox·S + j − p] over one plane
    /// laid out as [`RowPlane`] in `buf`, stride S, K = k, ow a multiple of W lanes. Per
    /// column tap j and W-wide column chunk, the padded rows r are walked once: each
    /// row's chunk (one load) meets the gradient rows oy = (r − i) / S it pairs with, held
    /// in a ring of registers (row r / S − d in ring[d], tap i = r mod S + S·d), K
    /// accumulators (one per row tap i). About K / S multiply-adds per load (⌈K / S⌉ on
    /// rows r ≡ 0 mod S), where a dot product per tap takes one per multiply-add.
    fn ring_sums<const K: usize, const W: usize, const S: usize>(
        g: &Geom,
        rp: RowPlane,
        buf: &[f32],
        gy: &[f32],
        acc: &mut [f64],
    ) {
        let zero = [0f32; W];
        for j in 0..K {
            let mut sums = [zero; K];
            let phase = rp.row(j % S, 0) + j / S;
            for c in (0..g.ow).step_by(W) {
                let mut ring = [zero; K];
                for r in 0..rp.rows {
                    let (m, q) = (r / S, r % S);
                    if q == 0 {
                        for d in (1..K).rev() {
                            ring[d] = ring[d - 1];
                        }
                        ring[0] = if m < g.oh {
                            gy[m * g.ow + c..][..W].try_into().expect("a whole chunk")
                        } else {
                            zero
                        };
                    }
                    let xv: &[f32; W] = buf[phase + r * rp.width + c..][..W]
                        .try_into()
                        .expect("a whole chunk");
                    for (d, rd) in ring.iter().enumerate() {
                        let i = q + S * d;
                        if i < K && d <= m && m < g.oh + d {
                            for l in 0..W {
                                sums[i][l] += rd[l] * xv[l];
                            }
                        }
                    }
                }
            }
            for (i, s) in sums.iter().enumerate() {
                acc[i * K + j] += s.iter().sum::<f32>() as f64;
            }
        }
    }
}

/// dL/dw: per channel (one task each), every batch item's plane laid out once, planes
/// summed in f64. Where [`row_ring_lanes`] applies: [`RowPlane`] and [`ring_sums`];
/// otherwise [`TapPlanes`] and [`tap_sums`]. With a prologue, x stands for pro(x), as in
/// [`forward`].
pub(super) fn grad_weight(
    g: &Geom,
    x: &FlexTensor,
    grad: &FlexTensor,
    pro: Option<&Prologue>,
) -> FlexTensor {
    let (xc, gc) = (x.to_contiguous(), grad.to_contiguous());
    let (xs, gs) = (f32s(&xc), f32s(&gc));
    let (hw, ohw, kk) = (g.h * g.w, g.oh * g.ow, g.k * g.k);
    let n = g.x_shape[0];
    let mut gw = vec![0f32; g.c * kk];
    if let Some(lanes) = row_ring_lanes(g) {
        let rp = RowPlane::new(g);
        gw.par_chunks_mut(kk).enumerate().for_each(|(ch, gwk)| {
            let mut acc = vec![0f64; kk];
            let mut buf = vec![0f32; rp.len(g)];
            let mut mapped = scratch(pro, hw);
            for b in 0..n {
                let nc = b * g.c + ch;
                rp.fill(g, mapped_plane(pro, ch, &xs[nc * hw..][..hw], &mut mapped), &mut buf);
                let gy = &gs[nc * ohw..][..ohw];
                macro_rules! by {
                    ($(($k:literal, $w:expr, $s:literal))*) => {
                        match (g.k, lanes, g.s) {
                            $(($k, l, $s) if l == $w => ring_sums::<$k, { $w }, $s>(g, rp, &buf, gy, &mut acc),)*
                            _ => unreachable!("row_ring_lanes admits only these"),
                        }
                    };
                }
                by!((3, LANES, 1) (5, LANES, 1) (7, LANES, 1)
                    (3, LANES / 2, 1) (5, LANES / 2, 1) (7, LANES / 2, 1)
                    (3, LANES, 2) (5, LANES, 2) (7, LANES, 2)
                    (3, LANES / 2, 2) (5, LANES / 2, 2) (7, LANES / 2, 2));
            }
            for (d, a) in gwk.iter_mut().zip(acc) {
                *d = a as f32;
            }
        });
    } else {
        let tp = TapPlanes::new(g);
        let cols: Vec<_> = (0..g.k).map(|j| g.cols(j)).collect();
        gw.par_chunks_mut(kk).enumerate().for_each(|(ch, gwk)| {
            let mut acc = vec![0f64; kk];
            let mut buf = vec![0f32; tp.len(g)];
            let mut mapped = scratch(pro, hw);
            for b in 0..n {
                let nc = b * g.c + ch;
                let xp = mapped_plane(pro, ch, &xs[nc * hw..][..hw], &mut mapped);
                tp.fill(g, &cols, xp, &mut buf);
                tap_sums(g, tp, &buf, &gs[nc * ohw..][..ohw], &mut acc);
            }
            for (d, a) in gwk.iter_mut().zip(acc) {
                *d = a as f32;
            }
        });
    }
    FlexTensor::from_data(TensorData::new(gw, [g.c, 1, g.k, g.k]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Which geometries take the row-ring weight gradient: the cases in tests/kernels.rs
    /// that are there to exercise it do, at the lane width named, and stride 3, a kernel
    /// without a const copy, or rows of 6 or 7 columns do not.
    #[test]
    fn row_ring_routing() {
        let lanes = |x: [usize; 4], k: usize, s: usize, p: usize| {
            row_ring_lanes(&Geom::new(x, [x[1], 1, k, k], s, p))
        };
        assert_eq!(lanes([2, 3, 8, 16], 5, 1, 2), Some(8));
        assert_eq!(lanes([3, 2, 4, 4], 3, 1, 1), Some(4));
        assert_eq!(lanes([1, 3, 6, 12], 7, 1, 3), Some(4));
        assert_eq!(lanes([2, 2, 9, 10], 5, 1, 1), Some(8));
        assert_eq!(lanes([2, 2, 11, 12], 5, 1, 0), Some(8));
        assert_eq!(lanes([2, 3, 16, 16], 3, 2, 1), Some(8));
        assert_eq!(lanes([3, 2, 8, 8], 5, 2, 2), Some(4));
        assert_eq!(lanes([1, 3, 9, 16], 7, 2, 3), Some(8));
        assert_eq!(lanes([1, 2, 13, 14], 3, 2, 2), Some(8));
        assert_eq!(lanes([2, 2, 12, 17], 5, 2, 1), Some(8));
        assert_eq!(lanes([2, 2, 11, 17], 3, 2, 0), Some(8));
        assert_eq!(lanes([2, 2, 12, 17], 3, 2, 0), Some(8));
        assert_eq!(lanes([2, 3, 10, 8], 3, 3, 1), None);
        assert_eq!(lanes([2, 2, 11, 15], 3, 2, 0), None);
        assert_eq!(lanes([1, 2, 16, 16], 9, 1, 4), None);
        assert_eq!(lanes([3, 2, 8, 8], 3, 1, 0), None);
    }

    /// The forward's blocks, with AVX2 where the CPU has it and without, give the bits of
    /// the plain sum over taps in the order i, then j, on random padded planes: kernels 3,
    /// 5 and 7, strides 1 and 2, outputs up to 39 × 79 (every block shape, partial last
    /// chunks, leftover rows).
    #[test]
    fn conv_rows_blocks_add_the_taps_in_order() {
        use rand::{Rng, SeedableRng, rngs::StdRng};
        let mut rng = StdRng::seed_from_u64(5);
        for case in 0..40 {
            let (k, s) = ([3, 5, 7][case % 3], 1 + case % 2);
            let (h, w) = (rng.random_range(k..40), rng.random_range(k..80));
            let g = Geom::new([1, 1, h, w], [1, 1, k, k], s, k / 2);
            let pad = g.padded();
            let taps = g.taps(pad);
            let buf: Vec<f32> = (0..s * pad.rows * pad.len)
                .map(|_| rng.random_range(-1.0..1.0))
                .collect();
            let wk: Vec<f32> = (0..k * k).map(|_| rng.random_range(-1.0..1.0)).collect();
            let plain: Vec<f32> = (0..g.oh * g.ow)
                .map(|o| {
                    let (oy, ox) = (o / g.ow, o % g.ow);
                    let at = oy * s * pad.len + ox;
                    taps.iter()
                        .zip(&wk)
                        .fold(0f32, |a, (&t, &w)| a + w * buf[at + t])
                })
                .collect();
            let cv = Conv::new(&g, pad, &buf, &taps, &wk);
            let (mut y, mut y_ref) = (vec![f32::NAN; plain.len()], vec![f32::NAN; plain.len()]);
            conv_rows(&cv, &mut y);
            conv_rows_reference(&cv, &mut y_ref);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&y), bits(&plain), "case {case}: {g:?}");
            assert_eq!(bits(&y_ref), bits(&plain), "case {case}: reference, {g:?}");
        }
    }
}
