//! Correctness properties of the masked supernet (the claims of docs/ALGORITHM.md).

use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::tensor::{Device, Distribution, Int, Tensor};
use dmasking::cost::count;
use dmasking::nn::ConvBnActConfig;
use dmasking::space::Space;
use dmasking::supernet::mask::{channel_mask, prefix_matrix};
use dmasking::supernet::{ArchLogits, ArchWeights, Eff, OpSharing, Supernet};
use rand::{Rng, SeedableRng, rngs::StdRng};

use crate::util::{device_rng_shared, plain_device, repo};

fn device() -> Device {
    plain_device().autodiff()
}

fn space(name: &str) -> Space {
    let dir = if name == "coupled_tiny" || name == "width_tiny" {
        "tests/spaces"
    } else {
        "configs"
    };
    Space::load(&repo(&format!("{dir}/{name}.json"))).unwrap()
}

fn max_abs_diff<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
    (a - b).abs().max().into_scalar::<f32>()
}

fn scalar(e: Eff) -> f64 {
    match e {
        Eff::Const(c) => c,
        Eff::Var(t) => t.into_scalar::<f32>() as f64,
    }
}

/// The paper's width search on one layer, in training mode, under soft weights: the masked
/// layer (one conv → BN → hswish at the largest width C, times the mask g·P) against K
/// separate conv → BN → hswish modules written here from the paper's definition, the i-th
/// with the first c_i filters and BN channels of the masked layer's weights, each output
/// zero-padded to C and weighted by g_i. BN normalises each channel by its own batch
/// statistics, so the two agree in training mode too. Outputs, the gradients of x and of
/// the logits α (g = softmax(α)), and the weight gradients (the masked layer's rows
/// 0..c_i collect every option i that has them) within 1e-4 relative; the memory bench's
/// `WidthChoice` in both modes gives the same outputs.
#[test]
fn soft_width_mask_equals_separate_modules_in_training() {
    use burn::module::Param;
    use dmasking::supernet::naive::WidthChoice;
    let _rng = device_rng_shared();
    let dev = device();
    let widths = [8usize, 16, 24, 40];
    let (c_in, c) = (12, 40);
    let layer = |w: usize| {
        ConvBnActConfig::new(c_in, w)
            .with_kernel(3)
            .with_act(Some(dmasking::arch::Act::Hswish))
            .init(&dev)
    };
    let masked = layer(c);
    // Non-trivial γ and β, so that their gradients and roles show.
    let gamma = Tensor::<1>::random([c], Distribution::Normal(1.0, 0.5), &dev);
    let beta = Tensor::<1>::random([c], Distribution::Normal(0.0, 0.5), &dev);
    let mut masked = masked;
    masked.bn.gamma = Param::from_tensor(gamma.clone());
    masked.bn.beta = Param::from_tensor(beta.clone());
    let w_full = masked.conv.weight.val();
    fn fresh<const D: usize>(t: Tensor<D>) -> Tensor<D> {
        let d = t.device();
        Tensor::from_data(t.into_data(), &d)
    }
    let options: Vec<_> = widths
        .iter()
        .map(|&w| {
            let mut m = layer(w);
            // Fresh leaves holding the shared layer's first w filters and BN channels.
            m.conv.weight = Param::from_tensor(fresh(w_full.clone().narrow(0, 0, w)));
            m.bn.gamma = Param::from_tensor(fresh(gamma.clone().narrow(0, 0, w)));
            m.bn.beta = Param::from_tensor(fresh(beta.clone().narrow(0, 0, w)));
            m
        })
        .collect();
    let x =
        Tensor::<4>::random([3, c_in, 6, 5], Distribution::Normal(0.3, 1.5), &dev).require_grad();
    let alpha = Tensor::<1>::from_floats([0.3, -1.0, 2.0, 0.1], &dev).require_grad();
    // One softmax per side: Burn consumes a graph in its backward pass.
    let g = || burn::tensor::activation::softmax(alpha.clone(), 0);
    let y_masked = masked.forward(x.clone()) * channel_mask(&g(), &prefix_matrix(&widths, &dev));
    let g_naive = g();
    let mut y_naive = Tensor::<4>::zeros([3, c, 6, 5], &dev);
    for (i, (m, &w)) in options.iter().zip(&widths).enumerate() {
        let y = m.forward(x.clone());
        let pad = Tensor::<4>::zeros([3, c - w, 6, 5], &dev);
        let y = if w < c {
            Tensor::cat(vec![y, pad], 1)
        } else {
            y
        };
        y_naive = y_naive + y * g_naive.clone().narrow(0, i, 1).reshape([1, 1, 1, 1]);
    }
    let rel = |a: Tensor<4>, b: Tensor<4>| {
        max_abs_diff(a, b.clone()) / b.abs().max().into_scalar::<f32>()
    };
    let e = rel(y_masked.clone(), y_naive.clone());
    assert!(e < 1e-4, "outputs differ by {e}");
    // The mask is not trivially all ones: the masked output differs from the full layer's.
    assert!(max_abs_diff(y_masked.clone(), masked.forward(x.clone())) > 1e-3);
    let r = Tensor::<4>::random([3, c, 6, 5], Distribution::Normal(0.0, 1.0), &dev);
    let gm = (y_masked * r.clone()).sum().backward();
    let gn = (y_naive * r).sum().backward();
    let e = rel(x.grad(&gm).unwrap(), x.grad(&gn).unwrap());
    assert!(e < 1e-4, "input gradients differ by {e}");
    let (da, db) = (alpha.grad(&gm).unwrap(), alpha.grad(&gn).unwrap());
    let e = max_abs_diff(da.clone(), db.clone()) / db.abs().max().into_scalar::<f32>();
    assert!(e < 1e-4, "architecture gradients differ by {e}");
    // Weight rows 0..c_i of the shared conv and BN collect option i's gradient.
    type Grad = dyn Fn(&dmasking::nn::ConvBnAct, &burn::tensor::Gradients) -> Tensor<4>;
    let conv: &Grad = &|m, gr| m.conv.weight.val().grad(gr).unwrap();
    fn rows(t: Tensor<1>) -> Tensor<4> {
        let n = t.dims()[0];
        t.reshape([n, 1, 1, 1])
    }
    let gam: &Grad = &|m, gr| rows(m.bn.gamma.val().grad(gr).unwrap());
    let bet: &Grad = &|m, gr| rows(m.bn.beta.val().grad(gr).unwrap());
    for (name, grad) in [("conv weight", conv), ("BN gamma", gam), ("BN beta", bet)] {
        let theirs = grad(&masked, &gm);
        let mut ours = Tensor::<4>::zeros(theirs.dims(), &theirs.device());
        for (m, &w) in options.iter().zip(&widths) {
            let gi = grad(m, &gn);
            let mut d = gi.dims();
            d[0] = c - w;
            ours = ours
                + if w < c {
                    Tensor::cat(vec![gi.clone(), Tensor::zeros(d, &gi.device())], 0)
                } else {
                    gi
                };
        }
        let e = max_abs_diff(theirs, ours.clone()) / ours.abs().max().into_scalar::<f32>();
        assert!(e < 1e-4, "{name} gradients differ by {e}");
    }
    // The memory bench's WidthChoice: the masked and naive modes agree on the same weights.
    let bench_masked = WidthChoice::new(c_in, &widths, 3, false, &dev);
    let mut bench_naive = WidthChoice::new(c_in, &widths, 3, true, &dev);
    let w_bench = bench_masked.layers[0].conv.weight.val();
    for (m, &w) in bench_naive.layers.iter_mut().zip(&widths) {
        m.conv.weight = Param::from_tensor(fresh(w_bench.clone().narrow(0, 0, w)));
    }
    let x = x.detach();
    let e = rel(
        bench_masked.forward(x.clone(), &g().detach()),
        bench_naive.forward(x, &g().detach()),
    );
    assert!(e < 1e-4, "WidthChoice masked vs naive differ by {e}");
}

fn random_picks(net: &Supernet, rng: &mut StdRng) -> Vec<usize> {
    net.plan
        .choices
        .iter()
        .map(|c| rng.random_range(0..c.options.len()))
        .collect()
}

/// With one-hot weights the supernet equals the derived network with inherited weights.
#[test]
fn one_hot_supernet_equals_derived_network() {
    let _rng = device_rng_shared();
    one_hot_equals_derived(OpSharing::Branches);
}

/// The same for one shared superkernel block per searched block: the 3×3 option is the
/// centre of the 5×5 kernel and SE is on or off.
#[test]
fn one_hot_superkernel_supernet_equals_derived_network() {
    let _rng = device_rng_shared();
    one_hot_equals_derived(OpSharing::Superkernel);
}

fn one_hot_equals_derived(sharing: OpSharing) {
    let archs = one_hot_trials("cifar10_tiny", sharing, 16);
    let seen_res: std::collections::BTreeSet<_> = archs.iter().map(|a| a.input_size).collect();
    assert!(seen_res.len() > 1, "trials should cover both resolutions");
    let seen_skip = archs.iter().any(|a| a.blocks.len() < 5);
    assert!(seen_skip, "trials should cover a skipped block");
    let seen_kernels: std::collections::BTreeSet<_> = archs
        .iter()
        .flat_map(|a| a.blocks.iter().map(|b| (b.kernel, b.se.unwrap_or(false))))
        .collect();
    for op in [
        (Some(3), false),
        (Some(5), false),
        (Some(3), true),
        (Some(5), true),
    ] {
        assert!(seen_kernels.contains(&op), "trials should cover op {op:?}");
    }
}

/// Coupled ops (each with its own hidden width), skip in a stage's first block (a 1×1
/// projection with no activation at stride 2; at stride 1 the identity or a projection
/// as the searched widths agree or not), a conv head and a stem without bias.
#[test]
fn one_hot_coupled_supernet_equals_derived_network() {
    let _rng = device_rng_shared();
    for sharing in [OpSharing::Branches, OpSharing::Superkernel] {
        let archs = one_hot_trials("coupled_tiny", sharing, 40);
        let blocks = || archs.iter().flat_map(|a| a.blocks.iter());
        let projections: std::collections::BTreeSet<_> = blocks()
            .filter(|b| b.op == dmasking::arch::BlockOp::Skip)
            .map(|b| (b.stride, b.act))
            .collect();
        assert!(
            projections.contains(&(2, Some(dmasking::arch::Act::None))),
            "trials should cover the stride-2 projection: {projections:?}"
        );
        assert!(
            projections.contains(&(1, None)),
            "trials should cover a stride-1 projection (16 -> 24): {projections:?}"
        );
        let ops: std::collections::BTreeSet<_> =
            blocks().filter_map(|b| b.kernel.zip(b.mid)).collect();
        // Stage 0 block 1: 16·3, 16·6; stage 1: in_max 16 or 24, times 1 and 2.
        for op in [(3, 48), (5, 96), (3, 16), (5, 32), (3, 24), (5, 48)] {
            assert!(ops.contains(&op), "trials should cover op {op:?}: {ops:?}");
        }
        assert!(
            archs.iter().any(|a| a.blocks.len() == 2),
            "trials should cover a stage-1 identity skip"
        );
    }
}

/// Every width searched: the stem's, a stage without widths of its own (it keeps the
/// width that feeds it, identity residual included), and a conv head's.
#[test]
fn one_hot_width_supernet_equals_derived_network() {
    let _rng = device_rng_shared();
    for sharing in [OpSharing::Branches, OpSharing::Superkernel] {
        let archs = one_hot_trials("width_tiny", sharing, 24);
        let seen = |f: &dyn Fn(&dmasking::arch::Arch) -> usize| {
            archs
                .iter()
                .map(f)
                .collect::<std::collections::BTreeSet<_>>()
        };
        assert_eq!(seen(&|a| a.stem.out), [8, 16].into());
        assert_eq!(seen(&|a| a.head.out), [32, 64].into());
        // Stage 0 keeps the stem's width; stage 2 keeps stage 1's.
        for a in &archs {
            assert_eq!(a.blocks[0].out, a.stem.out);
            assert_eq!(a.blocks.last().unwrap().out, a.blocks[1].out);
        }
    }
}

/// Random picks of a space (all zero first); asserts that the one-hot supernet equals
/// the derived network with inherited weights; returns the derived architectures.
fn one_hot_trials(name: &str, sharing: OpSharing, trials: usize) -> Vec<dmasking::arch::Arch> {
    let dev = device();
    let space = space(name);
    let net = Supernet::with_sharing(&space, sharing, &dev);
    let shared = net.blocks.iter().filter(|b| b.superkernel).count();
    let with_ops = net
        .plan
        .blocks
        .iter()
        .filter(|b| b.branches.len() > 1)
        .count();
    match sharing {
        OpSharing::Branches => assert_eq!(shared, 0),
        OpSharing::Superkernel => assert_eq!(shared, with_ops),
    }
    // Train-mode passes with soft weights move the BN running statistics off their init.
    let logits = ArchLogits::new(&net.plan.choices, &dev);
    let mut rng = StdRng::seed_from_u64(7);
    for _ in 0..2 {
        let noise = dmasking::supernet::gumbel_noise(&mut rng, logits.num_options(), &dev);
        let g = logits.sample(1.0, Some(&noise), false);
        let x = Tensor::<4>::random([8, 3, 16, 16], Distribution::Normal(0.2, 1.5), &dev);
        let _ = net.forward(x, &g);
    }
    let net = net.valid();
    let plain = net.one.device();
    let x = Tensor::<4>::random([3, 3, 16, 16], Distribution::Normal(0.0, 1.0), &plain);
    let mut archs = Vec::new();
    for trial in 0..trials {
        let mut picks = random_picks(&net, &mut rng);
        if trial == 0 {
            picks.iter_mut().for_each(|p| *p = 0);
        }
        let g = ArchWeights::one_hot(&net.plan.choices, &picks, &plain);
        let y_super = net.forward(x.clone(), &g);
        let (arch, fixed) = net.inherit(&picks, &plain).unwrap();
        // The derived network sees the input subsampled to its resolution.
        let r = arch.input_size;
        let lattice: Vec<i64> = (0..r).map(|j| (j * 16 / r) as i64).collect();
        let idx = Tensor::<1, Int>::from_ints(lattice.as_slice(), &plain);
        let x_small = x.clone().select(2, idx.clone()).select(3, idx);
        let y_fixed = fixed.valid().forward(x_small);
        let d = max_abs_diff(y_super, y_fixed);
        assert!(
            d < 1e-4,
            "{name} {sharing:?} picks {picks:?}: supernet vs derived differ by {d}"
        );
        // And the architecture maps back to picks that derive it.
        let back = net.plan.picks_for(&arch).unwrap();
        assert_eq!(
            net.plan.derive(&back).unwrap().layout().unwrap(),
            arch.layout().unwrap()
        );
        archs.push(arch);
    }
    archs
}

/// The expected cost at one-hot weights is the exact count of the derived architecture.
#[test]
fn one_hot_expected_cost_equals_exact_count() {
    let _rng = device_rng_shared();
    let dev = plain_device();
    for (name, sharing) in [
        ("cifar10_tiny", OpSharing::Branches),
        ("cifar10", OpSharing::Branches),
        ("coupled_tiny", OpSharing::Branches),
        ("coupled_tiny", OpSharing::Superkernel),
        ("nas_bench_macro", OpSharing::Superkernel),
        ("width_tiny", OpSharing::Branches),
    ] {
        let net = Supernet::with_sharing(&space(name), sharing, &dev);
        let mut rng = StdRng::seed_from_u64(3);
        for _ in 0..20 {
            let picks = random_picks(&net, &mut rng);
            let g = ArchWeights::one_hot(&net.plan.choices, &picks, &dev);
            let expected = net.expected_cost(&g);
            let arch = net.plan.derive(&picks).unwrap();
            let exact = count(&arch.layout().unwrap(), arch.input_size);
            let (ef, ep) = (scalar(expected.flops), scalar(expected.params));
            assert!(
                (ef - exact.flops as f64).abs() <= 1e-6 * exact.flops as f64,
                "{name} {picks:?}: expected {ef} vs exact {}",
                exact.flops
            );
            assert!(
                (ep - exact.params as f64).abs() <= 1e-6 * exact.params as f64,
                "{name} {picks:?}: params {ep} vs exact {}",
                exact.params
            );
        }
    }
}

fn loss_and_logits(
    net: &Supernet,
    logits: &ArchLogits,
    x: Tensor<4>,
    y: Tensor<1, Int>,
    lambda: f64,
) -> Tensor<1> {
    let g = logits.sample(1.0, None, false);
    let ce = CrossEntropyLossConfig::new()
        .init(&x.device())
        .forward(net.forward(x, &g), y);
    let flops = net.expected_cost(&g).flops.into_tensor(&ce.device());
    ce + flops.div_scalar(1e6).mul_scalar(lambda)
}

/// Architecture gradients are finite and non-zero, and a larger FLOP weight moves the
/// architecture toward cheaper options.
#[test]
fn architecture_gradients_move_toward_cheaper_options() {
    let _rng = device_rng_shared();
    let dev = device();
    let net = Supernet::new(&space("cifar10_tiny"), &dev).no_grad();
    let x = Tensor::<4>::random([4, 3, 16, 16], Distribution::Default, &dev);
    let y = Tensor::<1, Int>::from_ints([1, 2, 3, 4], &dev);
    let mut costs = Vec::new();
    for lambda in [0.0, 10.0] {
        let logits = ArchLogits::new(&net.plan.choices, &dev);
        let loss = loss_and_logits(&net, &logits, x.clone(), y.clone(), lambda);
        let grads = loss.backward();
        let mut total = 0.0f32;
        let stepped = ArchLogits {
            alphas: logits
                .alphas
                .iter()
                .map(|a| {
                    let gr = a.grad(&grads).expect("every choice gets a gradient");
                    let v: Vec<f32> = gr.clone().into_data().try_to_vec().unwrap();
                    assert!(v.iter().all(|g| g.is_finite()), "gradient not finite");
                    total += v.iter().map(|g| g.abs()).sum::<f32>();
                    burn::module::Param::from_tensor(a.val().inner() - gr.mul_scalar(0.5))
                })
                .collect(),
        };
        assert!(total > 0.0, "architecture gradients are all zero");
        let g = stepped.sample(1.0, None, false);
        let plain = net.valid();
        costs.push(scalar(plain.expected_cost(&g).flops));
    }
    assert!(
        costs[1] < costs[0] * 0.95,
        "a larger FLOP weight should lower the expected cost: {costs:?}"
    );
    // No weight gradients were requested: the supernet is no_grad.
}

fn flat(t: Tensor<1>) -> Vec<f32> {
    t.into_data().try_to_vec().unwrap()
}

/// A weight step changes weights but not logits; an architecture step changes logits but
/// not weights (no weight gradient is computed or applied).
#[test]
fn weight_and_architecture_steps_touch_disjoint_parameters() {
    let _rng = device_rng_shared();
    use dmasking::search::{LossMode, SearchConfig, SupernetTrainer as Trainer};
    let cfg = SearchConfig {
        loss: LossMode::Additive,
        ..SearchConfig::default()
    };
    let mut tr = Trainer::new(&space("cifar10_tiny"), &cfg, &plain_device()).unwrap();
    let dev = tr.one_device();
    let x = Tensor::<4>::random([4, 3, 16, 16], Distribution::Default, &dev);
    let y = Tensor::<1, Int>::from_ints([1, 2, 3, 4], &dev);
    let noise = Tensor::<1>::zeros([tr.logits.num_options()], &dev);
    let weights = |tr: &Trainer| flat(tr.net.stem.conv.weight.val().inner().flatten(0, 3));
    let logits = |tr: &Trainer| {
        tr.logits
            .alphas
            .iter()
            .flat_map(|a| flat(a.val().inner()))
            .collect::<Vec<f32>>()
    };
    let (w0, a0) = (weights(&tr), logits(&tr));
    tr.weight_step(x.clone(), y.clone(), 1.0, &noise, false, 0.1);
    let (w1, a1) = (weights(&tr), logits(&tr));
    assert_ne!(w0, w1, "a weight step must change the weights");
    assert_eq!(a0, a1, "a weight step must not change the logits");
    tr.arch_step(x, y, 1.0, &noise, &cfg);
    let (w2, a2) = (weights(&tr), logits(&tr));
    assert_eq!(w1, w2, "an architecture step must not change the weights");
    assert_ne!(a1, a2, "an architecture step must change the logits");
}

/// Budget projection lands inside the band and leaves an architecture already inside it.
#[test]
fn budget_projection_lands_in_the_band() {
    let plan = dmasking::supernet::Plan::new(&space("cifar10"));
    let mut rng = StdRng::seed_from_u64(9);
    for target in [3.0e6, 6.0e6, 12.0e6] {
        for _ in 0..5 {
            let picks = plan.random_picks(&mut rng);
            let probs: Vec<Vec<f32>> = plan
                .choices
                .iter()
                .map(|c| {
                    let w: Vec<f32> = (0..c.options.len())
                        .map(|_| rng.random_range(0.1..1.0))
                        .collect();
                    let s: f32 = w.iter().sum();
                    w.iter().map(|x| x / s).collect()
                })
                .collect();
            let out = dmasking::search::band::project(
                &plan,
                &dmasking::search::Flops::new(),
                &picks,
                &probs,
                target,
                0.1,
            )
            .unwrap();
            let f = plan.flops_of(&out).unwrap() as f64;
            assert!((f / target - 1.0).abs() <= 0.1, "{f} vs {target}");
            let before = plan.flops_of(&picks).unwrap() as f64;
            if (before / target - 1.0).abs() <= 0.1 {
                assert_eq!(out, picks);
            }
        }
    }
}

/// Compares every float parameter's gradient from the masked step with the single-path
/// step's: equal within 1e-4 of the masked gradient's largest magnitude (at least 1e-3),
/// and a parameter the path does not touch has an all-zero masked gradient.
struct CompareGrads<'a> {
    masked: &'a burn::tensor::Gradients,
    path: &'a burn::tensor::Gradients,
    worst: f32,
    nonzero: usize,
    untouched: usize,
}

impl burn::module::ModuleVisitor for CompareGrads<'_> {
    fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
        let t = param.val();
        let (a, b) = (t.grad(self.masked), t.grad(self.path));
        match (a, b) {
            (Some(a), Some(b)) => {
                let scale = a.clone().abs().max().into_scalar::<f32>();
                let d = (a - b).abs().max().into_scalar::<f32>();
                // Relative to the gradient's largest magnitude; for a parameter whose
                // gradient is ~0 (rounding noise, e.g. 1e-9 on ndarray) an absolute 1e-7.
                self.worst = self.worst.max(d / scale.max(1e-3));
                if scale > 0.0 {
                    self.nonzero += 1;
                }
            }
            (Some(a), None) => {
                let m = a.abs().max().into_scalar::<f32>();
                assert!(m == 0.0, "a parameter off the path has masked gradient {m}");
                self.untouched += 1;
            }
            (None, Some(_)) => panic!("the path gave a gradient the masked step did not"),
            (None, None) => {}
        }
    }
}

/// One trial of the single-path check: the same input through the masked supernet under
/// one-hot weights and through the path; the losses must agree, then the gradients
/// (`CompareGrads`). Returns the worst relative gradient difference, the parameters with
/// a nonzero gradient, and those off the path.
fn single_path_trial(
    net: &Supernet,
    picks: &[usize],
    rng: &mut StdRng,
    dev: &Device,
) -> (f32, usize, usize) {
    let ce = CrossEntropyLossConfig::new().init(dev);
    let x = Tensor::<4>::random([4, 3, 16, 16], Distribution::Normal(0.0, 1.0), dev);
    let labels: Vec<i64> = (0..4).map(|_| rng.random_range(0..10)).collect();
    let y = Tensor::<1, Int>::from_ints(labels.as_slice(), dev);
    let g = ArchWeights::one_hot(&net.plan.choices, picks, dev);
    let l_masked = ce.forward(net.forward(x.clone(), &g), y.clone());
    let l_path = ce.forward(net.forward_path(x, picks), y);
    let (a, b) = (
        l_masked.clone().into_scalar::<f32>(),
        l_path.clone().into_scalar::<f32>(),
    );
    assert!(
        (a - b).abs() < 1e-4 * a.abs().max(1.0),
        "{picks:?}: loss {a} vs {b}"
    );
    let (gm, gp) = (l_masked.backward(), l_path.backward());
    let mut cmp = CompareGrads {
        masked: &gm,
        path: &gp,
        worst: 0.0,
        nonzero: 0,
        untouched: 0,
    };
    net.visit(&mut cmp);
    (cmp.worst, cmp.nonzero, cmp.untouched)
}

/// The single-path weight step *(ours)*: for a one-hot sample, the supernet cut to that
/// path gives the masked supernet's loss and weight gradients under the one-hot weights,
/// in both op-sharing modes, over picks that cover both resolutions and skipped blocks.
///
/// The two graphs round differently (a masked conv sums over more channels), so on rare
/// inputs a ReLU whose input lies within rounding of zero opens in one and not the other:
/// every gradient upstream of it then differs by about 1% while the losses stay equal
/// (seen in 6 of about 2,500 trials on ndarray; each retry agreed). A wrong gradient would
/// differ for every input, so a trial that disagrees is retried on fresh inputs, with at
/// most two retries per space.
#[test]
fn single_path_weight_gradients_equal_masked_ones() {
    let _rng = device_rng_shared();
    for (name, sharing) in [
        ("cifar10_tiny", OpSharing::Branches),
        ("cifar10_tiny", OpSharing::Superkernel),
        ("coupled_tiny", OpSharing::Branches),
        ("coupled_tiny", OpSharing::Superkernel),
        ("width_tiny", OpSharing::Branches),
    ] {
        let dev = device();
        let space = space(name);
        let mut net = Supernet::with_sharing(&space, sharing, &dev);
        // Dropout draws from the device RNG; both steps must see the same classifier input.
        net.head.dropout = burn::nn::DropoutConfig::new(0.0).init();
        let mut rng = StdRng::seed_from_u64(21);
        let (mut seen_res, mut seen_skip) = (std::collections::BTreeSet::new(), false);
        let (mut touched, mut retries) = (0, 0);
        for trial in 0..10 {
            let mut picks = random_picks(&net, &mut rng);
            if trial == 0 {
                picks.iter_mut().for_each(|p| *p = 0);
            }
            let arch = net.plan.derive(&picks).unwrap();
            seen_res.insert(arch.input_size);
            seen_skip |= arch.blocks.len() < net.plan.blocks.len();
            let mut outcome = single_path_trial(&net, &picks, &mut rng, &dev);
            while outcome.0 >= 1e-4 && retries < 2 {
                retries += 1;
                outcome = single_path_trial(&net, &picks, &mut rng, &dev);
            }
            let (worst, nonzero, untouched) = outcome;
            assert!(
                worst < 1e-4,
                "{sharing:?} {picks:?}: gradients differ by {worst} ({retries} retries)"
            );
            assert!(nonzero > 10, "too few parameters compared: {nonzero}");
            touched += untouched;
        }
        if net.plan.resolution.choice.is_some() {
            assert!(seen_res.len() > 1, "trials should cover both resolutions");
        }
        assert!(seen_skip, "trials should cover a skipped block");
        if sharing == OpSharing::Branches && name != "width_tiny" {
            assert!(touched > 0, "some branches should be off the path");
        }
    }
}

/// Every BN of the supernet with random scale and shift (a fresh supernet's residual
/// blocks start with a zero scale, which would hide their branches from a comparison).
fn randomise_supernet_bns(net: &mut Supernet) {
    fn bn(l: &mut dmasking::nn::ConvBnAct) {
        let (c, d) = (l.bn.gamma.dims()[0], l.bn.gamma.device());
        let u = |lo, hi| Tensor::<1>::random([c], Distribution::Uniform(lo, hi), &d);
        l.bn.gamma = burn::module::Param::from_tensor(u(0.5, 1.5));
        l.bn.beta = burn::module::Param::from_tensor(u(-0.2, 0.2));
    }
    bn(&mut net.stem);
    for b in &mut net.blocks {
        for ir in &mut b.branches {
            ir.pw
                .iter_mut()
                .chain([&mut ir.dw, &mut ir.pwl])
                .for_each(bn);
        }
        b.proj.iter_mut().for_each(bn);
    }
    net.head.pw.iter_mut().for_each(bn);
}

/// BCNet's right side (`Supernet::mirrored`, the bilateral weight step): reversing every
/// hidden channel axis is a symmetry, so the largest network gives the same logits on
/// both sides, while the narrowest is another network; the right side's narrowest stem
/// inherits the supernet's *last* filters, and a loss on it sends gradients to those
/// filters of the supernet's own weights only (the left side's to the first ones only).
#[test]
fn mirrored_supernet_is_the_right_side() {
    use dmasking::supernet::EXTREME_LIMIT;
    let _rng = device_rng_shared();
    for (name, sharing) in [
        ("width_tiny", OpSharing::Branches),
        ("cifar10_tiny", OpSharing::Superkernel),
        ("coupled_tiny", OpSharing::Branches),
    ] {
        let dev = device();
        let mut net = Supernet::with_sharing(&space(name), sharing, &dev);
        net.head.dropout = burn::nn::DropoutConfig::new(0.0).init();
        randomise_supernet_bns(&mut net);
        let mirror = net.mirrored();
        let r = net.plan.space.input_size;
        let x = Tensor::<4>::random([4, 3, r, r], Distribution::Normal(0.0, 1.0), &dev);
        let largest = net.plan.extreme(true, EXTREME_LIMIT).unwrap().picks;
        let smallest = net.plan.extreme(false, EXTREME_LIMIT).unwrap().picks;
        // The largest widths with every block that can be skipped skipped: the skip
        // projections (stride or width changes) run at full width too.
        let skipped: Vec<usize> = net
            .plan
            .choices
            .iter()
            .zip(&largest)
            .map(|(c, &p)| c.options.iter().position(|o| o == "skip").unwrap_or(p))
            .collect();
        for picks in [&largest, &skipped] {
            let full = net.forward_path(x.clone(), picks);
            let scale = full.clone().abs().max().into_scalar::<f32>().max(1.0);
            let d = max_abs_diff(full, mirror.forward_path(x.clone(), picks));
            assert!(
                d < 1e-4 * scale,
                "{name} {picks:?}: full widths, sides differ by {d}"
            );
        }
        if name == "coupled_tiny" {
            // Its first blocks change stride and width: skipped, they are projections.
            let kept = net.plan.derive(&skipped).unwrap().blocks.len();
            assert!(kept < net.plan.blocks.len() && net.blocks[0].proj.is_some());
        }
        let full = net.forward_path(x.clone(), &largest);
        let scale = full.clone().abs().max().into_scalar::<f32>().max(1.0);
        // Mirroring twice gives back the supernet's weights.
        let twice = mirror.mirrored();
        let w = |n: &Supernet| n.blocks[1].branches[0].pwl.conv.weight.val();
        assert_eq!(max_abs_diff(w(&net), w(&twice)), 0.0);
        let d = max_abs_diff(full, twice.forward_path(x.clone(), &largest));
        assert!(d < 1e-5 * scale, "{name}: mirrored twice differs by {d}");
        let d = max_abs_diff(
            net.forward_path(x.clone(), &smallest),
            mirror.forward_path(x.clone(), &smallest),
        );
        assert!(
            d > 1e-3 * scale,
            "{name}: smallest network, sides agree ({d})"
        );
    }
    // The stem of width_tiny has 8 or 16 filters: the narrowest right side uses 8..16.
    let dev = device();
    let mut net = Supernet::with_sharing(&space("width_tiny"), OpSharing::Branches, &dev);
    net.head.dropout = burn::nn::DropoutConfig::new(0.0).init();
    let smallest = net.plan.extreme(false, EXTREME_LIMIT).unwrap().picks;
    let w = net.stem.conv.weight.val();
    assert_eq!(w.dims()[0], 16);
    let (_, right) = net.mirrored().inherit(&smallest, &dev).unwrap();
    let last = w.clone().narrow(0, 8, 8).flip([0]);
    assert_eq!(max_abs_diff(right.stem.conv.weight.val(), last), 0.0);
    let x = Tensor::<4>::random([4, 3, 16, 16], Distribution::Normal(0.0, 1.0), &dev);
    let y = Tensor::<1, Int>::from_ints([1, 2, 3, 4], &dev);
    let ce = CrossEntropyLossConfig::new().init(&dev);
    for (side, used) in [(net.mirrored(), 8..16), (net.clone(), 0..8)] {
        let grads = ce
            .forward(side.forward_path(x.clone(), &smallest), y.clone())
            .backward();
        let g = w.grad(&grads).expect("the stem's weights get a gradient");
        for f in 0..16 {
            let n = g.clone().narrow(0, f, 1).abs().sum().into_scalar::<f32>();
            assert_eq!(n > 0.0, used.contains(&f), "stem filter {f}: gradient {n}");
        }
    }
}

/// `bench --dump-reference` writes every parameter of the `branches` supernet, each once,
/// with its rank-1 parameters moved off their initial values (a zero-initialised BN scale
/// would hide a block from the PyTorch reference's check), and one case per architecture
/// vector with one row of logits per image.
#[test]
fn reference_dump_holds_every_parameter_once() {
    let _rng = device_rng_shared();
    let space = space("cifar10_tiny");
    let check = dmasking::bench::reference_check(&space, 3, &plain_device()).unwrap();
    let net = Supernet::with_sharing(&space, OpSharing::Branches, &device());
    // Burn counts BN's running statistics among a module's parameters, as the dump holds them.
    let values: usize = check.tensors.iter().map(|t| t.values.len()).sum();
    assert_eq!(values, net.num_params());
    let mut names: Vec<&str> = check.tensors.iter().map(|t| t.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), check.tensors.len(), "a tensor name repeats");
    let gammas: Vec<f32> = check
        .tensors
        .iter()
        .filter(|t| t.name.ends_with("bn.gamma"))
        .flat_map(|t| t.values.clone())
        .collect();
    assert!(!gammas.is_empty() && gammas.iter().all(|&g| g != 0.0 && g != 1.0));
    for case in &check.cases {
        assert_eq!(case.logits.len(), 3, "{}", case.name);
        assert_eq!(case.weights.len(), net.plan.choices.len(), "{}", case.name);
    }
}
