//! The supernet's composition under soft weights (docs/ALGORITHM.md), in training mode:
//! every searched block of `configs/cifar10_tiny.json` against the same block written here
//! from the paper's definition, layer by layer: each masked layer is the Gumbel-weighted
//! sum of separate per-option layers (option i holds the first c_i channels of the shared
//! weights) applied to that layer's already-mixed input, in the docs' block order (pw,
//! keep-or-identity, dw, SE, pwl, op branches, residual); the superkernel and the
//! resolution lattices against transcriptions of their formulas. Outputs, and the
//! gradients of the input, the architecture logits and every weight, within 1e-4
//! relative. The written side uses Burn's reference conv2d and plain tensor arithmetic,
//! none of the masked code or our kernels.

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::activation::softmax;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Distribution, Gradients, Tensor};
use dmasking::arch::Act;
use dmasking::nn::{ConvBnAct, IrBlock, SqueezeExcite};
use dmasking::space::Space;
use dmasking::supernet::block::BlockWeights;
use dmasking::supernet::mask::channel_mask;
use dmasking::supernet::plan::{BlockPlan, Options};
use dmasking::supernet::{ArchWeights, OpSharing, SuperBlock, Supernet};

use crate::util::{device_rng_shared, host, host_rel_err, plain_device, repo};

fn device() -> Device {
    plain_device().autodiff()
}

// ---- the per-option layers, written from the definitions ----

/// k×k convolution with padding k/2 (Burn's reference op).
fn conv(
    x: Tensor<4>,
    w: Tensor<4>,
    b: Option<Tensor<1>>,
    stride: usize,
    groups: usize,
) -> Tensor<4> {
    let k = w.dims()[2];
    conv2d(
        x,
        w,
        b,
        ConvOptions::new([stride, stride], [k / 2, k / 2], [1, 1], groups),
    )
}

/// Batch norm in training mode: each channel by its own batch mean and biased variance.
fn batch_norm(z: Tensor<4>, gamma: Tensor<1>, beta: Tensor<1>, eps: f64) -> Tensor<4> {
    let c = z.dims()[1];
    let mean = z.clone().mean_dim(0).mean_dim(2).mean_dim(3);
    let d = z - mean;
    let var = d
        .clone()
        .powf_scalar(2.0)
        .mean_dim(0)
        .mean_dim(2)
        .mean_dim(3);
    d / var.add_scalar(eps).sqrt() * gamma.reshape([1, c, 1, 1]) + beta.reshape([1, c, 1, 1])
}

fn act(a: Act, x: Tensor<4>) -> Tensor<4> {
    match a {
        Act::Relu => x.clamp_min(0.0),
        Act::Hswish => x.clone() * hard_sigmoid(x),
        Act::None => x,
    }
}

fn hard_sigmoid(x: Tensor<4>) -> Tensor<4> {
    x.add_scalar(3.0).clamp(0.0, 6.0).div_scalar(6.0)
}

/// Zero-pad the channels of `x` to `c`, or cut them.
fn pad(x: Tensor<4>, c: usize) -> Tensor<4> {
    let [n, cx, h, w] = x.dims();
    if cx >= c {
        return x.narrow(1, 0, c);
    }
    let zeros = Tensor::zeros([n, c - cx, h, w], &x.device());
    Tensor::cat(vec![x, zeros], 1)
}

fn at(g: &Tensor<1>, i: usize) -> Tensor<4> {
    g.clone().narrow(0, i, 1).reshape([1, 1, 1, 1])
}

/// The paper's width search on one layer: Σ_i g_i · pad_C(layer_i(x)), where option i's
/// layer has `widths[i]` output channels.
fn mixed(
    x: Tensor<4>,
    g: &Tensor<1>,
    widths: &[usize],
    layer: impl Fn(Tensor<4>, usize) -> Tensor<4>,
) -> Tensor<4> {
    let c = *widths.iter().max().unwrap();
    widths
        .iter()
        .enumerate()
        .map(|(i, &w)| pad(layer(x.clone(), w), c) * at(g, i))
        .reduce(|a, b| a + b)
        .unwrap()
}

/// Option layer of `c_out` channels cut from a shared conv → BN → act: its first `c_out`
/// filters (a depthwise filter reads only its own channel) and BN channels, the conv's
/// weights times `kernel_mask` where given.
fn option_layer(
    m: &ConvBnAct,
    x: Tensor<4>,
    c_out: usize,
    kernel_mask: Option<&Tensor<4>>,
    a: Act,
) -> Tensor<4> {
    let mut w = m.conv.weight.val();
    if let Some(k) = kernel_mask {
        w = w * k.clone();
    }
    let w = w.narrow(0, 0, c_out);
    let b = m.conv.bias.as_ref().map(|b| b.val().narrow(0, 0, c_out));
    let depthwise = m.conv.groups > 1;
    let (x, groups) = if depthwise {
        (x.narrow(1, 0, c_out), c_out)
    } else {
        (x, 1)
    };
    let z = conv(x, w, b, m.conv.stride[0], groups);
    let bn = &m.bn;
    let z = batch_norm(
        z,
        bn.gamma.val().narrow(0, 0, c_out),
        bn.beta.val().narrow(0, 0, c_out),
        bn.epsilon,
    );
    act(a, z)
}

/// Squeeze-excitation whose squeeze layer is searched with the hidden widths: the pooled
/// map through Σ_i g_i · pad(act(reduce_i(p))), then expand and hard sigmoid as the gate.
fn se_layer(se: &SqueezeExcite, h: Tensor<4>, g: &Tensor<1>, hidden: &[usize]) -> Tensor<4> {
    let pooled = h.clone().mean_dim(2).mean_dim(3);
    let r = &se.reduce;
    let z = mixed(pooled, g, hidden, |p, s| {
        let w = r.weight.val().narrow(0, 0, s);
        let b = r.bias.as_ref().map(|b| b.val().narrow(0, 0, s));
        act(se.act, conv(p, w, b, 1, 1))
    });
    let e = &se.expand;
    let gate = hard_sigmoid(conv(
        z,
        e.weight.val(),
        e.bias.as_ref().map(|b| b.val()),
        1,
        1,
    ));
    h * gate
}

/// A scalar weight [1, 1, 1, 1] from a sum of weight products.
fn sum4(terms: Vec<Tensor<1>>, device: &Device) -> Tensor<4> {
    terms
        .into_iter()
        .reduce(|a, b| a + b)
        .unwrap_or_else(|| Tensor::zeros([1], device))
        .reshape([1, 1, 1, 1])
}

/// P(a = b) for two independent choices: Σ_{i,j} g_a[i] g_b[j] [a_i = b_j].
fn prob_equal(a: &[usize], ga: &Tensor<1>, b: &[usize], gb: &Tensor<1>, dev: &Device) -> Tensor<4> {
    let mut terms = Vec::new();
    for (i, &ai) in a.iter().enumerate() {
        for (j, &bj) in b.iter().enumerate() {
            if ai == bj {
                terms.push(ga.clone().narrow(0, i, 1) * gb.clone().narrow(0, j, 1));
            }
        }
    }
    sum4(terms, dev)
}

/// The weights of a value's options: its choice's, or `[1]` when fixed.
fn weights_of<T>(o: &Options<T>, g: &[Tensor<1>], dev: &Device) -> Tensor<1> {
    match o.choice {
        Some(c) => g[c].clone(),
        None => Tensor::ones([1], dev),
    }
}

/// One held block `b` under the widths' weights, in the docs' order:
///   h = Σ_i g_e,i · pad(pw_i(x));  h = keep · h + (1 − keep) · fit(x),  keep = 1 − P(mid = in)
///   h = Σ_i g_e,i · pad(dw_i(h))   (dw weights times `kernel_mask` in a superkernel)
///   h = SE(h) with its squeeze searched by the same g_e (mixed with h by `se_keep`)
///   y = Σ_j g_o,j · pad(pwl_j(h))
fn held_block(
    b: &IrBlock,
    plan: &BlockPlan,
    x: Tensor<4>,
    g: &[Tensor<1>],
    kernel_mask: Option<&Tensor<4>>,
    se_keep: Option<Tensor<4>>,
) -> Tensor<4> {
    let dev = x.device();
    let (g_in, g_mid, g_out) = (
        weights_of(&plan.c_in, g, &dev),
        weights_of(&plan.mid, g, &dev),
        weights_of(&plan.c_out, g, &dev),
    );
    let mids = &plan.mid.values;
    let mid_max = *mids.iter().max().unwrap();
    let h = match &b.pw {
        Some(pw) => {
            let h = mixed(x.clone(), &g_mid, mids, |x, w| {
                option_layer(pw, x, w, None, plan.act)
            });
            let same = prob_equal(mids, &g_mid, &plan.c_in.values, &g_in, &dev);
            h * same.clone().neg().add_scalar(1.0) + pad(x, mid_max) * same
        }
        None => pad(x, mid_max),
    };
    let h = mixed(h, &g_mid, mids, |h, w| {
        option_layer(&b.dw, h, w, kernel_mask, plan.act)
    });
    let h = match &b.se {
        Some(se) => {
            let s = se_layer(se, h.clone(), &g_mid, &plan.se_hidden);
            match se_keep {
                Some(q) => s * q.clone() + h * q.neg().add_scalar(1.0),
                None => s,
            }
        }
        None => h,
    };
    mixed(h, &g_out, &plan.c_out.values, |h, w| {
        option_layer(&b.pwl, h, w, None, Act::None)
    })
}

/// The residual term: x where a later block of a stage keeps its size; P(in = out) · x in a
/// stage's first block at stride 1; nothing at stride 2.
fn residual(plan: &BlockPlan, x: Tensor<4>, g: &[Tensor<1>]) -> Option<Tensor<4>> {
    let dev = x.device();
    let c = plan.c_out.max();
    if plan.stride != 1 {
        None
    } else if plan.index > 0 {
        Some(pad(x, c))
    } else {
        let (g_in, g_out) = (
            weights_of(&plan.c_in, g, &dev),
            weights_of(&plan.c_out, g, &dev),
        );
        let p = prob_equal(&plan.c_in.values, &g_in, &plan.c_out.values, &g_out, &dev);
        Some(pad(x, c) * p)
    }
}

/// `branches`: y = Σ_t g_t · block_t(x) + residual; skip adds no term.
fn branches_block(sb: &SuperBlock, x: Tensor<4>, g: &[Tensor<1>]) -> Tensor<4> {
    let plan = &sb.plan;
    let y = sb
        .branches
        .iter()
        .enumerate()
        .map(|(t, b)| {
            let y = held_block(b, plan, x.clone(), g, None, None);
            match plan.op_choice {
                Some(c) => y * at(&g[c], t),
                None => y,
            }
        })
        .reduce(|a, b| a + b)
        .unwrap();
    match residual(plan, x, g) {
        Some(r) => y + r,
        None => y,
    }
}

/// `superkernel`: s = Σ_t g_t over the branches (skip excluded); dw weights times
/// Σ_t g_t K_t / s, K_t the k_t × k_t centre window of the largest kernel; SE mixed in by
/// q = Σ_{t has SE} g_t / s; y = s · block(x) + residual.
fn superkernel_block(sb: &SuperBlock, x: Tensor<4>, g: &[Tensor<1>]) -> Tensor<4> {
    let plan = &sb.plan;
    let dev = x.device();
    let g_op = &g[plan.op_choice.unwrap()];
    let n = plan.branches.len();
    let g_t = |t: usize| g_op.clone().narrow(0, t, 1);
    let s = (0..n).map(g_t).reduce(|a, b| a + b).unwrap();
    let k = plan.branches.iter().map(|b| b.kernel).max().unwrap();
    let window = |kt: usize| {
        let off = (k - kt) / 2;
        let v: Vec<f32> = (0..k * k)
            .map(|p| {
                let (r, c) = (p / k, p % k);
                let inside = (off..off + kt).contains(&r) && (off..off + kt).contains(&c);
                f32::from(u8::from(inside))
            })
            .collect();
        Tensor::<1>::from_floats(v.as_slice(), &dev).reshape([1, 1, k, k])
    };
    let kernel_mask = plan
        .branches
        .iter()
        .enumerate()
        .map(|(t, b)| window(b.kernel) * g_t(t).reshape([1, 1, 1, 1]))
        .reduce(|a, b| a + b)
        .unwrap()
        / s.clone().reshape([1, 1, 1, 1]);
    let with_se: Vec<Tensor<1>> = (0..n).filter(|&t| plan.branches[t].se).map(g_t).collect();
    let q = (with_se.len() < n).then(|| sum4(with_se, &dev) / s.clone().reshape([1, 1, 1, 1]));
    let y = held_block(&sb.branches[0], plan, x.clone(), g, Some(&kernel_mask), q)
        * s.reshape([1, 1, 1, 1]);
    match residual(plan, x, g) {
        Some(r) => y + r,
        None => y,
    }
}

// ---- comparison ----

/// Every float parameter's gradient, flattened, in visiting order (zeros where none).
struct Grads<'a> {
    grads: &'a Gradients,
    out: Vec<Tensor<1>>,
}

impl ModuleVisitor for Grads<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let v = param.val();
        let n = v.shape().num_elements();
        let g = match v.grad(self.grads) {
            Some(g) => g.reshape([n]),
            None => Tensor::zeros([n], &v.device()),
        };
        self.out.push(g);
    }
}

fn param_grads<M: Module>(m: &M, grads: &Gradients) -> Vec<Tensor<1>> {
    let mut v = Grads {
        grads,
        out: Vec::new(),
    };
    m.visit(&mut v);
    v.out
}

/// Random non-one-hot logits for every choice (leaves with gradients).
fn random_logits(net: &Supernet, dev: &Device) -> Vec<Tensor<1>> {
    net.plan
        .choices
        .iter()
        .map(|c| {
            Tensor::<1>::random([c.options.len()], Distribution::Normal(0.0, 1.0), dev)
                .require_grad()
        })
        .collect()
}

fn softmaxes(alpha: &[Tensor<1>]) -> Vec<Tensor<1>> {
    alpha.iter().map(|a| softmax(a.clone(), 0)).collect()
}

/// The device of the written side: Flex, whatever backend is under test, so that a
/// backend's masked computation is checked against a CPU transcription (on wgpu through
/// lavapipe, Burn's own grouped convolution on a channel slice gave input gradients 6-20 %
/// off Flex's in this file's written side, while the masked side agreed with Flex to 3e-7).
fn reference() -> Device {
    Device::flex().autodiff()
}

/// A leaf on the reference device holding `t`'s values.
fn on_reference<const D: usize>(t: &Tensor<D>) -> Tensor<D> {
    Tensor::from_data(t.to_data(), &reference()).require_grad()
}

/// Outputs and every gradient of `ours` (the supernet's code, on the device under test)
/// against `written` (this file's, on the reference device, with `module_ref`, a copy of
/// `module`'s weights there), each a function of (x, g), on inputs from `fresh` (x and
/// the logits α): one backward pass per side. Outputs must agree on every input. The two
/// graphs round differently, so on rare inputs an activation's argument lies within
/// rounding of a kink (hswish's ±3) and is on one side of it in one graph and on the other
/// in the other, which changes the gradients upstream of it: a wrong gradient differs on
/// every input, so gradients that disagree are checked again on fresh inputs, twice at
/// most.
fn assert_same<M: Module>(
    what: &str,
    module: &M,
    module_ref: &M,
    fresh: impl Fn() -> (Tensor<4>, Vec<Tensor<1>>),
    ours: impl Fn(Tensor<4>, &[Tensor<1>]) -> Tensor<4>,
    written: impl Fn(Tensor<4>, &[Tensor<1>]) -> Tensor<4>,
) {
    let mut failures = Vec::new();
    for _ in 0..3 {
        let (x, alpha) = fresh();
        let (x_ref, alpha_ref) = (
            on_reference(&x),
            alpha.iter().map(on_reference).collect::<Vec<_>>(),
        );
        let (y_ours, y_written) = (
            ours(x.clone(), &softmaxes(&alpha)),
            written(x_ref.clone(), &softmaxes(&alpha_ref)),
        );
        let e = host_rel_err(&host(y_ours.clone()), &host(y_written.clone()));
        assert!(e < 1e-4, "{what}: outputs differ by {e}");
        let r = Tensor::<4>::random(y_ours.dims(), Distribution::Normal(0.0, 1.0), &x.device());
        let ga = (y_ours * r.clone()).sum().backward();
        let gb = (y_written * on_reference(&r)).sum().backward();
        let ours = Sides {
            module,
            x: &x,
            alpha: &alpha,
            grads: &ga,
        };
        let theirs = Sides {
            module: module_ref,
            x: &x_ref,
            alpha: &alpha_ref,
            grads: &gb,
        };
        match same_gradients(ours, theirs) {
            Ok(()) => return,
            Err(e) => failures.push(e),
        }
    }
    panic!("{what}: on three inputs, {}", failures.join("; "));
}

/// One side of a comparison: its module, leaves and gradients.
struct Sides<'a, M> {
    module: &'a M,
    x: &'a Tensor<4>,
    alpha: &'a [Tensor<1>],
    grads: &'a Gradients,
}

/// The input's, every logit vector's and every weight's gradient agree within 1e-4
/// (weights: of the largest weight gradient, since a conv bias in front of a batch norm
/// has a gradient of zero up to rounding on both sides), or which one does not.
fn same_gradients<M: Module>(a: Sides<'_, M>, b: Sides<'_, M>) -> Result<(), String> {
    let e = host_rel_err(
        &host(a.x.grad(a.grads).unwrap()),
        &host(b.x.grad(b.grads).unwrap()),
    );
    if e >= 1e-4 {
        return Err(format!("input gradients differ by {e}"));
    }
    let mut moved = 0;
    for (c, (la, lb)) in a.alpha.iter().zip(b.alpha).enumerate() {
        match (la.grad(a.grads), lb.grad(b.grads)) {
            (Some(da), Some(db)) => {
                let e = host_rel_err(&host(da), &host(db));
                if e >= 1e-4 {
                    return Err(format!("gradients of choice {c}'s logits differ by {e}"));
                }
                moved += 1;
            }
            (None, None) => {}
            (da, db) => panic!(
                "choice {c}'s logits get a gradient on one side only (ours {}, written {})",
                da.is_some(),
                db.is_some()
            ),
        }
    }
    assert!(moved > 0, "no architecture gradient");
    let pa: Vec<Vec<f32>> = param_grads(a.module, a.grads)
        .into_iter()
        .map(host)
        .collect();
    let pb: Vec<Vec<f32>> = param_grads(b.module, b.grads)
        .into_iter()
        .map(host)
        .collect();
    assert_eq!(pa.len(), pb.len());
    let scale = pb.iter().flatten().fold(0f32, |m, v| m.max(v.abs()));
    assert!(scale > 0.0, "no weight gradient");
    for (k, (da, db)) in pa.iter().zip(&pb).enumerate() {
        let e = da
            .iter()
            .zip(db)
            .fold(0f32, |e, (p, q)| e.max((p - q).abs()))
            / scale;
        if e >= 1e-4 {
            return Err(format!("gradients of parameter {k} differ by {e}"));
        }
    }
    Ok(())
}

fn cifar10_tiny(sharing: OpSharing, dev: &Device) -> Supernet {
    let space = Space::load(&repo("configs/cifar10_tiny.json")).unwrap();
    Supernet::with_sharing(&space, sharing, dev)
}

/// Our block's forward pass on the supernet's masks: the stage's output mask from its
/// width weights, then `SuperBlock::weights` and `forward`.
fn our_block(net: &Supernet, sb: &SuperBlock, x: Tensor<4>, g: &[Tensor<1>]) -> Tensor<4> {
    let stage = sb.plan.stage;
    let gw = ArchWeights(g.to_vec());
    let out_mask = net.width_prefix[stage].as_ref().map(|p| {
        let c = net.plan.stage_out[stage].choice.unwrap();
        channel_mask(gw.get(c), p)
    });
    let w: BlockWeights = sb.weights(&gw, out_mask.as_ref(), &net.one);
    sb.forward(x, &w)
}

/// One searched block of `net` on a random input under random soft weights: our forward
/// pass against `written`.
fn check_block(
    net: &Supernet,
    sb: &SuperBlock,
    what: &str,
    written: fn(&SuperBlock, Tensor<4>, &[Tensor<1>]) -> Tensor<4>,
) {
    let dev = net.one.device();
    let fresh = || {
        let x = Tensor::<4>::random(
            [4, sb.plan.c_in.max(), 8, 8],
            Distribution::Normal(0.2, 1.0),
            &dev,
        );
        (x.require_grad(), random_logits(net, &dev))
    };
    let sb_ref = sb.clone().fork(&reference());
    assert_same(
        what,
        sb,
        &sb_ref,
        fresh,
        |x, g| our_block(net, sb, x, g),
        |x, g| written(&sb_ref, x, g),
    );
}

/// Every block of cifar10_tiny's searched stages (width, expansion with a pw that the
/// input width may remove, kernel, SE, skip; identity, P(in = out) and no residual), in
/// `branches` mode, against the paper's composition written above.
#[test]
fn soft_blocks_equal_their_per_option_composition() {
    let _rng = device_rng_shared();
    let dev = device();
    let net = cifar10_tiny(OpSharing::Branches, &dev);
    let mut checked = 0;
    for sb in net.blocks.iter().filter(|b| {
        let p = &b.plan;
        p.op_choice.is_some()
            || p.c_in.choice.is_some()
            || p.mid.choice.is_some()
            || p.c_out.choice.is_some()
    }) {
        assert!(sb.proj.is_none(), "cifar10_tiny has no skip projection");
        let what = format!("stage {} block {}", sb.plan.stage, sb.plan.index);
        check_block(&net, sb, &what, branches_block);
        checked += 1;
    }
    assert_eq!(checked, 4, "cifar10_tiny's searched blocks");
}

/// The superkernel block computes what docs/ALGORITHM.md says: one block at the largest
/// kernel with the expected kernel mask in its dw weights, SE mixed in by its probability,
/// scaled by the branches' total weight.
#[test]
fn soft_superkernel_blocks_compute_the_documented_formula() {
    let _rng = device_rng_shared();
    let dev = device();
    let net = cifar10_tiny(OpSharing::Superkernel, &dev);
    let shared: Vec<&SuperBlock> = net.blocks.iter().filter(|b| b.superkernel).collect();
    assert_eq!(shared.len(), 2, "stage 1's blocks mix kernels 3/5 and SE");
    for sb in shared {
        let what = format!(
            "superkernel stage {} block {}",
            sb.plan.stage, sb.plan.index
        );
        check_block(&net, sb, &what, superkernel_block);
    }
}

// ---- resolution lattices ----

/// The 0/1 matrix [R, r] of an r-point lattice on an R-point grid: S[floor(j · R / r)][j] = 1.
fn lattice(full: usize, small: usize, dev: &Device) -> Tensor<2> {
    let mut v = vec![0f32; full * small];
    for j in 0..small {
        v[(j * full / small) * small + j] = 1.0;
    }
    Tensor::<1>::from_floats(v.as_slice(), dev).reshape([full, small])
}

/// S [R, r] repeated over a batch of n maps of c channels.
fn per_map(s: &Tensor<2>, n: usize, c: usize) -> Tensor<4> {
    let [big, small] = s.dims();
    s.clone()
        .reshape([1, 1, big, small])
        .expand([n, c, big, small])
}

/// gather: Sᵀ x S (the lattice's rows and columns); scatter: S y Sᵀ (zeros elsewhere).
fn gather(x: Tensor<4>, s: &Tensor<2>) -> Tensor<4> {
    let [n, c, _, _] = x.dims();
    let s4 = per_map(s, n, c);
    s4.clone().swap_dims(2, 3).matmul(x).matmul(s4)
}

fn scatter(y: Tensor<4>, s: &Tensor<2>) -> Tensor<4> {
    let [n, c, _, _] = y.dims();
    let s4 = per_map(s, n, c);
    s4.clone().matmul(y).matmul(s4.swap_dims(2, 3))
}

/// The resolution search on a space where only the resolution is searched: the
/// supernet's logits and gradients equal x_{b+1} = Σ_i g_i · scatter_i(f_b(gather_i(x_b)))
/// for the stem and every block, then Σ_i g_i · pool(head(gather_i(x))) into the
/// classifier, with the lattice S[floor(j · R_b / r_{i,b})][j] and the sizes by conv
/// arithmetic (ceil(h / stride)) written here.
#[test]
fn soft_resolution_lattices_compute_the_documented_formula() {
    let _rng = device_rng_shared();
    let dev = device();
    let space = Space::from_json(
        r#"{"format": "dmasking-space/1", "name": "lattice_tiny", "input_size": 16,
            "resolutions": [16, 12, 10], "in_channels": 3, "num_classes": 5, "width_divisor": 8,
            "stem": {"out": 8, "kernel": 3, "stride": 2, "act": "relu"},
            "stages": [{"blocks": 2, "stride": 2, "out": [16], "expansion": [2]}],
            "head": {"op": "conv", "out": 24, "act": "hswish"}, "dropout": 0.0}"#,
    )
    .unwrap();
    let net = Supernet::new(&space, &dev);
    assert_eq!(net.plan.choices.len(), 1, "only the resolution is searched");
    let res = [16usize, 12, 10];
    let strides = [2usize, 2, 1]; // stem, block 0, block 1
    // sizes[b][i]: option i's map size at boundary b.
    let mut sizes = vec![res.to_vec()];
    for s in strides {
        let last = sizes.last().unwrap().clone();
        sizes.push(last.iter().map(|&h| h.div_ceil(s)).collect());
    }
    let s: Vec<Vec<Tensor<2>>> = sizes
        .iter()
        .map(|opts| {
            opts.iter()
                .map(|&r| lattice(opts[0], r, &reference()))
                .collect()
        })
        .collect();
    let alpha = vec![Tensor::<1>::from_floats([0.4, -0.3, 0.9], &dev).require_grad()];
    let x = Tensor::<4>::random([3, 3, 16, 16], Distribution::Normal(0.0, 1.0), &dev);
    // The written side composes the layers of a copy of the supernet on the reference device.
    let net_ref = net.clone().fork(&reference());
    let weights = |g: &[Tensor<1>]| -> Vec<BlockWeights> {
        let gw = ArchWeights(g.to_vec());
        net_ref
            .blocks
            .iter()
            .map(|b| b.weights(&gw, None, &net_ref.one))
            .collect()
    };
    let written = |x: Tensor<4>, g: &[Tensor<1>]| -> Tensor<4> {
        let bw = weights(g);
        let mix = |x: Tensor<4>, b: usize, f: &dyn Fn(Tensor<4>) -> Tensor<4>| {
            (0..res.len())
                .map(|i| scatter(f(gather(x.clone(), &s[b][i])), &s[b + 1][i]) * at(&g[0], i))
                .reduce(|a, b| a + b)
                .unwrap()
        };
        let mut x = mix(x, 0, &|x| net_ref.stem.forward(x));
        for (b, (blk, w)) in net_ref.blocks.iter().zip(&bw).enumerate() {
            x = mix(x, b + 1, &|x| blk.forward(x, w));
        }
        let pw = net_ref.head.pw.as_ref().unwrap();
        let pooled = (0..res.len())
            .map(|i| {
                pw.forward(gather(x.clone(), &s[3][i]))
                    .mean_dim(2)
                    .mean_dim(3)
                    * at(&g[0], i)
            })
            .reduce(|a, b| a + b)
            .unwrap();
        let logits = net_ref.head.classify(pooled);
        let [n, k] = logits.dims();
        logits.reshape([n, k, 1, 1])
    };
    let ours = |x: Tensor<4>, g: &[Tensor<1>]| -> Tensor<4> {
        let logits = net.forward(x, &ArchWeights(g.to_vec()));
        let [n, k] = logits.dims();
        logits.reshape([n, k, 1, 1])
    };
    // Not vacuous: the soft mixture differs from the full-resolution network alone.
    let full = ours(x.clone(), &[Tensor::from_floats([1.0, 0.0, 0.0], &dev)]);
    let soft = ours(x.clone(), &softmaxes(&alpha));
    assert!(
        host_rel_err(&host(soft), &host(full)) > 1e-3,
        "the resolution weights change nothing"
    );
    let fresh = || {
        let x = Tensor::<4>::random([3, 3, 16, 16], Distribution::Normal(0.0, 1.0), &dev);
        (x.require_grad(), alpha.clone())
    };
    assert_same("resolution lattices", &net, &net_ref, fresh, ours, written);
}
