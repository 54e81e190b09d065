//! Our kernels (depthwise and pointwise convolution, training-mode batch norm, channel
//! zero-padding) against Burn's standard ops: values and every gradient within 1e-4 of the
//! reference, relative to the reference tensor's largest magnitude, on random shapes (odd
//! sizes, batch 1, strides 2 and 3 on odd inputs, kernels 3/5/7, padding k/2, 0 and k;
//! channel padding and the resolution lattice exactly). On another backend
//! (`DMASKING_TEST_DEVICE`) the same tests check the fallbacks, and
//! `backends_match_our_flex_kernels` checks that backend's results against our Flex
//! kernels on the same inputs.

use burn::module::Param;
use burn::nn::BatchNormConfig;
use burn::tensor::{Device, Distribution, Int, Tensor};
use dmasking::arch::Act;
use dmasking::kernels::{
    NextConv, add_scaled, batch_norm, batch_norm_act, batch_norm_act_into, depthwise_conv2d,
    lattice_gather, lattice_scatter, pad_channels, plane_mean, plane_scale, pointwise_conv2d,
    reference_add_scaled, reference_depthwise_conv2d, reference_lattice_gather,
    reference_lattice_scatter, reference_pad_channels, reference_plane_mean, reference_plane_scale,
    reference_pointwise_conv2d, uses_own_add_scaled, uses_own_batch_norm, uses_own_depthwise,
    uses_own_plane_ops, uses_own_pointwise,
};
use dmasking::supernet::lattice::lattice_positions;
use rand::{Rng, SeedableRng, rngs::StdRng};

use crate::util::{device_rng_shared, host, host_rel_err, on_flex, plain_device};

/// max |a − b| / max |b|.
fn rel_err<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
    let scale = b.clone().abs().max().into_scalar::<f32>().max(1e-12);
    (a - b).abs().max().into_scalar::<f32>() / scale
}

struct Case {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    k: usize,
    stride: usize,
    padding: usize,
}

fn cases() -> Vec<Case> {
    let mut rng = StdRng::seed_from_u64(7);
    let mut v = vec![
        // batch 1, stride 2 on odd inputs, the three kernel sizes
        Case {
            n: 1,
            c: 3,
            h: 7,
            w: 9,
            k: 3,
            stride: 2,
            padding: 1,
        },
        Case {
            n: 1,
            c: 5,
            h: 11,
            w: 11,
            k: 5,
            stride: 2,
            padding: 2,
        },
        Case {
            n: 2,
            c: 4,
            h: 9,
            w: 13,
            k: 7,
            stride: 1,
            padding: 3,
        },
        Case {
            n: 3,
            c: 2,
            h: 8,
            w: 8,
            k: 3,
            stride: 1,
            padding: 0,
        },
        Case {
            n: 2,
            c: 6,
            h: 5,
            w: 5,
            k: 5,
            stride: 2,
            padding: 0,
        },
        // a kernel larger than the padded image in one step
        Case {
            n: 1,
            c: 2,
            h: 3,
            w: 3,
            k: 7,
            stride: 1,
            padding: 3,
        },
        // stride 1 with output rows a whole number of 8 or 4 lanes wide: the weight
        // gradient's row-ring path (`row_ring_lanes` in src/kernels/depthwise_flex.rs),
        // each kernel size, "same", smaller and no padding
        Case {
            n: 2,
            c: 3,
            h: 8,
            w: 16,
            k: 5,
            stride: 1,
            padding: 2,
        },
        Case {
            n: 3,
            c: 2,
            h: 4,
            w: 4,
            k: 3,
            stride: 1,
            padding: 1,
        },
        Case {
            n: 1,
            c: 3,
            h: 6,
            w: 12,
            k: 7,
            stride: 1,
            padding: 3,
        },
        Case {
            n: 2,
            c: 2,
            h: 9,
            w: 10,
            k: 5,
            stride: 1,
            padding: 1,
        },
        Case {
            n: 2,
            c: 2,
            h: 11,
            w: 12,
            k: 5,
            stride: 1,
            padding: 0,
        },
        // the same at stride 2 (the padded plane split into two column phases): 8 and 4
        // lanes, each kernel size, odd heights and widths, "same", smaller, no and wider
        // padding
        Case {
            n: 2,
            c: 3,
            h: 16,
            w: 16,
            k: 3,
            stride: 2,
            padding: 1,
        },
        Case {
            n: 3,
            c: 2,
            h: 8,
            w: 8,
            k: 5,
            stride: 2,
            padding: 2,
        },
        Case {
            n: 1,
            c: 3,
            h: 9,
            w: 16,
            k: 7,
            stride: 2,
            padding: 3,
        },
        Case {
            n: 2,
            c: 2,
            h: 12,
            w: 17,
            k: 5,
            stride: 2,
            padding: 1,
        },
        Case {
            n: 2,
            c: 2,
            h: 11,
            w: 17,
            k: 3,
            stride: 2,
            padding: 0,
        },
        Case {
            n: 1,
            c: 2,
            h: 13,
            w: 14,
            k: 3,
            stride: 2,
            padding: 2,
        },
        // stride 2, no padding, h − k odd: the last input row lies below every tap
        Case {
            n: 2,
            c: 2,
            h: 12,
            w: 17,
            k: 3,
            stride: 2,
            padding: 0,
        },
        // the forward's register blocks: rows of 5 chunks (blocks of 4 chunks by 2 rows and
        // one by 1 row down 19 output rows, then 1 chunk by 8, 8, 2 and 1 rows), of 3
        // chunks (2 by 4 rows, then 1 by 8 and 4), and stride 2 with a partial last chunk
        Case {
            n: 1,
            c: 2,
            h: 19,
            w: 40,
            k: 5,
            stride: 1,
            padding: 2,
        },
        Case {
            n: 2,
            c: 2,
            h: 12,
            w: 24,
            k: 7,
            stride: 1,
            padding: 3,
        },
        Case {
            n: 1,
            c: 3,
            h: 21,
            w: 69,
            k: 3,
            stride: 2,
            padding: 1,
        },
        // stride 3, and a padding as wide as the kernel (input-gradient phases whose
        // taps all fall outside the output)
        Case {
            n: 2,
            c: 3,
            h: 10,
            w: 8,
            k: 3,
            stride: 3,
            padding: 1,
        },
        Case {
            n: 1,
            c: 2,
            h: 5,
            w: 6,
            k: 3,
            stride: 2,
            padding: 3,
        },
    ];
    for _ in 0..12 {
        let k: usize = [3, 5, 7][rng.random_range(0..3)];
        let padding = if rng.random_bool(0.8) { k / 2 } else { 0 };
        let h = rng.random_range(k.saturating_sub(2 * padding).max(1)..20);
        let w = rng.random_range(k.saturating_sub(2 * padding).max(1)..20);
        v.push(Case {
            n: rng.random_range(1..4),
            c: rng.random_range(1..17),
            h,
            w,
            k,
            stride: rng.random_range(1..3),
            padding,
        });
    }
    v
}

fn check(dev: &Device) {
    for (i, c) in cases().into_iter().enumerate() {
        let x = Tensor::<4>::random([c.n, c.c, c.h, c.w], Distribution::Normal(0.0, 1.0), dev)
            .require_grad();
        let w = Tensor::<4>::random([c.c, 1, c.k, c.k], Distribution::Normal(0.0, 1.0), dev)
            .require_grad();
        let y = depthwise_conv2d(x.clone(), w.clone(), c.stride, c.padding);
        let y_ref = reference_depthwise_conv2d(x.clone(), w.clone(), c.stride, c.padding);
        assert_eq!(y.dims(), y_ref.dims(), "case {i}");
        // A loss that weights every output differently, so each gradient entry matters.
        let r = Tensor::<4>::random(y.dims(), Distribution::Normal(0.0, 1.0), dev);
        let e = rel_err(y.clone(), y_ref.clone());
        assert!(e < 1e-4, "case {i}: forward {e}");
        let g = (y * r.clone()).sum().backward();
        let g_ref = (y_ref * r).sum().backward();
        let e = rel_err(x.grad(&g).unwrap(), x.grad(&g_ref).unwrap());
        assert!(e < 1e-4, "case {i}: input gradient {e}");
        let e = rel_err(w.grad(&g).unwrap(), w.grad(&g_ref).unwrap());
        assert!(e < 1e-4, "case {i}: weight gradient {e}");
    }
}

#[test]
fn depthwise_matches_burn() {
    let _rng = device_rng_shared();
    let dev = plain_device().autodiff();
    let x = Tensor::<4>::zeros([1, 2, 5, 5], &dev);
    let w = Tensor::<4>::zeros([2, 1, 3, 3], &dev);
    assert_eq!(
        uses_own_depthwise(&x, &w),
        on_flex(),
        "our kernel on flex only"
    );
    check(&dev);
}

#[test]
fn depthwise_matches_burn_with_gradient_checkpointing() {
    let _rng = device_rng_shared();
    check(&plain_device().autodiff().gradient_checkpointing());
}

/// Only the input needs a gradient (the architecture step: weights are a no-grad view), and
/// the weight is a product with a mask (the superkernel's kernel mask).
#[test]
fn depthwise_input_gradient_through_a_masked_weight() {
    let _rng = device_rng_shared();
    let dev = plain_device().autodiff();
    let x = Tensor::<4>::random([2, 3, 9, 7], Distribution::Normal(0.0, 1.0), &dev).require_grad();
    let m = Tensor::<4>::random([1, 1, 5, 5], Distribution::Default, &dev).require_grad();
    let w = Tensor::<4>::random([3, 1, 5, 5], Distribution::Normal(0.0, 1.0), &dev);
    let r = Tensor::<4>::random([2, 3, 5, 4], Distribution::Normal(0.0, 1.0), &dev);
    let y = depthwise_conv2d(x.clone(), w.clone() * m.clone(), 2, 2);
    let y_ref = reference_depthwise_conv2d(x.clone(), w * m.clone(), 2, 2);
    let g = (y * r.clone()).sum().backward();
    let g_ref = (y_ref * r).sum().backward();
    assert!(rel_err(x.grad(&g).unwrap(), x.grad(&g_ref).unwrap()) < 1e-4);
    assert!(rel_err(m.grad(&g).unwrap(), m.grad(&g_ref).unwrap()) < 1e-4);
}

/// Without autodiff (plain Flex, e.g. evaluation) the kernel's forward is the op's.
#[test]
fn depthwise_forward_without_autodiff() {
    let _rng = device_rng_shared();
    let dev = plain_device();
    let x = Tensor::<4>::random([2, 4, 10, 9], Distribution::Normal(0.0, 1.0), &dev);
    let w = Tensor::<4>::random([4, 1, 3, 3], Distribution::Normal(0.0, 1.0), &dev);
    assert_eq!(uses_own_depthwise(&x, &w), on_flex());
    let e = rel_err(
        depthwise_conv2d(x.clone(), w.clone(), 1, 1),
        reference_depthwise_conv2d(x, w, 1, 1),
    );
    assert!(e < 1e-4, "{e}");
}

/// Pointwise convolution: random channel counts and odd planes, batch 1 included, with
/// and without gradient checkpointing; only-input and only-weight gradients too.
#[test]
fn pointwise_matches_burn() {
    let _rng = device_rng_shared();
    let mut rng = StdRng::seed_from_u64(11);
    for dev in [
        plain_device().autodiff(),
        plain_device().autodiff().gradient_checkpointing(),
    ] {
        assert_eq!(
            uses_own_pointwise(
                &Tensor::<4>::zeros([1, 3, 2, 2], &dev),
                &Tensor::<4>::zeros([5, 3, 1, 1], &dev)
            ),
            on_flex()
        );
        for case in 0..10 {
            let (n, ci, co) = (
                rng.random_range(1..4),
                rng.random_range(1..40),
                rng.random_range(1..40),
            );
            let (h, w) = (rng.random_range(1..14), rng.random_range(1..14));
            let x = Tensor::<4>::random([n, ci, h, w], Distribution::Normal(0.0, 1.0), &dev);
            let wt = Tensor::<4>::random([co, ci, 1, 1], Distribution::Normal(0.0, 1.0), &dev);
            // Both need gradients, then only x (the architecture step), then only w.
            let (x, wt) = match case % 3 {
                0 => (x.require_grad(), wt.require_grad()),
                1 => (x.require_grad(), wt),
                _ => (x, wt.require_grad()),
            };
            let y = pointwise_conv2d(x.clone(), wt.clone());
            let y_ref = reference_pointwise_conv2d(x.clone(), wt.clone());
            let e = rel_err(y.clone(), y_ref.clone());
            assert!(e < 1e-4, "case {case}: forward {e}");
            let r = Tensor::<4>::random(y.dims(), Distribution::Normal(0.0, 1.0), &dev);
            let g = (y * r.clone()).sum().backward();
            let g_ref = (y_ref * r).sum().backward();
            assert_eq!(
                x.grad(&g).is_some(),
                x.grad(&g_ref).is_some(),
                "case {case}"
            );
            if let (Some(a), Some(b)) = (x.grad(&g), x.grad(&g_ref)) {
                let e = rel_err(a, b);
                assert!(e < 1e-4, "case {case}: input gradient {e}");
            }
            assert_eq!(
                wt.grad(&g).is_some(),
                wt.grad(&g_ref).is_some(),
                "case {case}"
            );
            if let (Some(a), Some(b)) = (wt.grad(&g), wt.grad(&g_ref)) {
                let e = rel_err(a, b);
                assert!(e < 1e-4, "case {case}: weight gradient {e}");
            }
        }
    }
}

/// A random input of `dims`, tracked for gradients on an autodiff device.
fn input(dims: [usize; 4], dev: &Device) -> Tensor<4> {
    let x = Tensor::<4>::random(dims, Distribution::Normal(0.0, 1.0), dev);
    if dev.is_autodiff() {
        x.require_grad()
    } else {
        x
    }
}

/// `ours` equals `reference` exactly, and so does `input`'s gradient through a random
/// weighting of every output (so that a gradient leaking into a zero, or a value taken
/// from the wrong place, shows) on an autodiff device.
fn assert_exact(input: &Tensor<4>, ours: Tensor<4>, reference: Tensor<4>, what: &str) {
    assert_eq!(ours.dims(), reference.dims(), "{what}: shape");
    assert_eq!(
        ours.clone().into_data(),
        reference.clone().into_data(),
        "{what}: values"
    );
    let dev = ours.device();
    if !dev.is_autodiff() {
        return;
    }
    let w = Tensor::<4>::random(ours.dims(), Distribution::Normal(0.0, 1.0), &dev);
    let g = (ours * w.clone()).sum().backward();
    let g_ref = (reference * w).sum().backward();
    let (a, b) = (
        input.grad(&g).expect("gradient"),
        input.grad(&g_ref).expect("reference gradient"),
    );
    assert_eq!(a.into_data(), b.into_data(), "{what}: gradient");
}

/// Zero-padding channels against `zeros` + `cat`: the padded map and x's gradient.
#[test]
fn pad_channels_matches_burn() {
    let _rng = device_rng_shared();
    let mut rng = StdRng::seed_from_u64(5);
    for dev in [plain_device(), plain_device().autodiff()] {
        for case in 0..8 {
            let (n, c_x) = (rng.random_range(1..4), rng.random_range(1..9));
            let c = c_x + rng.random_range(0..6);
            let (h, w) = (rng.random_range(1..9), rng.random_range(1..9));
            let x = input([n, c_x, h, w], &dev);
            let y = pad_channels(x.clone(), c);
            assert_eq!(y.dims(), [n, c, h, w], "case {case}");
            let y_ref = reference_pad_channels(x.clone(), c);
            assert_exact(&x, y, y_ref, &format!("case {case}"));
        }
    }
}

/// y + p · fit(x) against Burn's pad or cut, multiply and add: the values, and the
/// gradients of y, x and p through a random weighting of the output, with x narrower than,
/// as wide as and wider than y. The kernel writes into y's buffer when nothing else holds
/// it: a copy of y kept by the caller stays as it was.
#[test]
fn add_scaled_matches_burn() {
    let _rng = device_rng_shared();
    let mut rng = StdRng::seed_from_u64(11);
    for dev in [plain_device(), plain_device().autodiff()] {
        for (case, dc) in [-3i64, 0, 2, -1, 0, 4].into_iter().enumerate() {
            let (n, c) = (rng.random_range(1..4), rng.random_range(2..9));
            let c_x = (c as i64 + dc).max(1) as usize;
            let (h, w) = (rng.random_range(1..9), rng.random_range(1..9));
            let what = format!("case {case}: [{n}, {c}, {h}, {w}] + p · [{n}, {c_x}, ..]");
            let y = input([n, c, h, w], &dev);
            let x = input([n, c_x, h, w], &dev);
            let p = Tensor::<1>::from_floats([rng.random_range(-1.0..1.0f32)], &dev);
            let p = if dev.is_autodiff() {
                p.require_grad()
            } else {
                p
            };
            assert_eq!(
                uses_own_add_scaled(&y, &x, &p),
                on_flex(),
                "{what}: our kernel"
            );
            // An operation of y's own, as in a network, so that y's buffer is unshared.
            let (y_own, y_ref) = (y.clone().mul_scalar(1.5), y.clone().mul_scalar(1.5));
            // Read from a tensor of its own: on wgpu (Burn 0.22.1) the data of
            // `y_own.clone().into_data()` showed the in-place add that consumed y_own later.
            let kept = y.clone().mul_scalar(1.5).into_data();
            let ours = add_scaled(y_own, x.clone(), p.clone());
            let reference = reference_add_scaled(y_ref, x.clone(), p.clone());
            assert!(
                rel_err(ours.clone(), reference.clone()) < 1e-6,
                "{what}: values"
            );
            // A y that the caller still holds is left alone.
            let y_held = y.clone().mul_scalar(1.5);
            let _ = add_scaled(y_held.clone(), x.clone(), p.clone());
            assert_eq!(y_held.into_data(), kept, "{what}: a held y was written");
            if !dev.is_autodiff() {
                continue;
            }
            let r = Tensor::<4>::random(ours.dims(), Distribution::Normal(0.0, 1.0), &dev);
            let g = (ours * r.clone()).sum().backward();
            let g_ref = (reference * r.clone()).sum().backward();
            let gy = |g| y.grad(g).expect("y's gradient");
            let gx = |g| x.grad(g).expect("x's gradient");
            let gp = |g| p.grad(g).expect("p's gradient");
            assert!(rel_err(gy(&g), gy(&g_ref)) < 1e-6, "{what}: dy");
            assert!(rel_err(gx(&g), gx(&g_ref)) < 1e-6, "{what}: dx");
            // dp is one sum that may cancel to near 0: measured against Σ |r · fit(x)|.
            let (a, b) = (gp(&g).into_scalar::<f32>(), gp(&g_ref).into_scalar::<f32>());
            let mass = reference_add_scaled(y.zeros_like(), x.clone().abs(), p.ones_like())
                .mul(r.abs())
                .sum()
                .into_scalar::<f32>();
            assert!(
                (a - b).abs() <= 1e-5 * mass.max(1.0),
                "{what}: dp {a} against {b}"
            );
        }
    }
}

/// Squeeze-excitation's pool and channel scale against `mean_dim` and the broadcast
/// multiply: values, and the gradients of x and of the scale, on odd plane sizes (the
/// lane remainder), batch 1 and single-value planes.
#[test]
fn plane_ops_match_burn() {
    let _rng = device_rng_shared();
    for dev in [plain_device(), plain_device().autodiff()] {
        for (case, (n, c, h, w)) in [(1, 3, 1, 1), (2, 5, 3, 7), (3, 4, 8, 8), (1, 9, 5, 13)]
            .into_iter()
            .enumerate()
        {
            let x = input([n, c, h, w], &dev);
            let f = input([n, c, 1, 1], &dev);
            assert_eq!(uses_own_plane_ops(&x, Some(&f)), on_flex(), "case {case}");
            if n > 1 {
                // One scale for the whole batch broadcasts: Burn's multiply, not ours.
                let f1 = f.clone().narrow(0, 0, 1);
                assert!(
                    !uses_own_plane_ops(&x, Some(&f1)),
                    "case {case}: broadcast f"
                );
            }
            let r = Tensor::<4>::random([n, c, h, w], Distribution::Normal(0.0, 1.0), &dev);
            let rm = Tensor::<4>::random([n, c, 1, 1], Distribution::Normal(0.0, 1.0), &dev);
            let (m, m_ref) = (plane_mean(x.clone()), reference_plane_mean(x.clone()));
            let (y, y_ref) = (
                plane_scale(x.clone(), f.clone()),
                reference_plane_scale(x.clone(), f.clone()),
            );
            assert_eq!(m.dims(), [n, c, 1, 1], "case {case}: pool shape");
            assert!(
                rel_err(m.clone(), m_ref.clone()) < 1e-6,
                "case {case}: pool"
            );
            assert!(
                rel_err(y.clone(), y_ref.clone()) < 1e-6,
                "case {case}: scale"
            );
            if !dev.is_autodiff() {
                continue;
            }
            let g = ((m * rm.clone()).sum() + (y * r.clone()).sum()).backward();
            let g_ref = ((m_ref * rm).sum() + (y_ref * r).sum()).backward();
            let dx = |g| x.grad(g).expect("x's gradient");
            let df = |g| f.grad(g).expect("f's gradient");
            assert!(rel_err(dx(&g), dx(&g_ref)) < 1e-6, "case {case}: dx");
            assert!(rel_err(df(&g), df(&g_ref)) < 1e-5, "case {case}: df");
        }
    }
}

/// The resolution lattice's subsample and its adjoint against `select` / `select_assign`:
/// values and the input's gradient, on the positions the supernet uses.
#[test]
fn lattice_ops_match_burn() {
    let _rng = device_rng_shared();
    let mut rng = StdRng::seed_from_u64(9);
    for dev in [plain_device(), plain_device().autodiff()] {
        for case in 0..8 {
            let full = rng.random_range(2..20);
            let r = rng.random_range(1..full);
            let positions = lattice_positions(full, r);
            let at: Vec<i64> = positions.iter().map(|&p| p as i64).collect();
            let index = Tensor::<1, Int>::from_ints(at.as_slice(), &dev);
            let (n, c) = (rng.random_range(1..4), rng.random_range(1..6));
            // gather: [n, c, full, full] → [n, c, r, r]; scatter: the other way.
            let x = input([n, c, full, full], &dev);
            let ours = lattice_gather(x.clone(), &positions, &index);
            let reference = reference_lattice_gather(x.clone(), &index);
            assert_exact(&x, ours, reference, &format!("case {case}: gather"));
            let y = input([n, c, r, r], &dev);
            let ours = lattice_scatter(y.clone(), &positions, &index, full);
            let reference = reference_lattice_scatter(y.clone(), &index, full);
            assert_exact(&y, ours, reference, &format!("case {case}: scatter"));
        }
    }
}

/// Training-mode batch norm against Burn's `BatchNorm::forward` on copies of one layer:
/// output, the gradients of x, γ and β, and the running statistics it leaves behind.
#[test]
fn batch_norm_matches_burn() {
    let _rng = device_rng_shared();
    let mut rng = StdRng::seed_from_u64(3);
    for dev in [
        plain_device().autodiff(),
        plain_device().autodiff().gradient_checkpointing(),
    ] {
        for case in 0..8 {
            let (n, c) = (rng.random_range(1..5), rng.random_range(1..20));
            let (h, w) = (rng.random_range(1..12), rng.random_range(1..12));
            let mut bn = BatchNormConfig::new(c).init(&dev);
            // Non-trivial γ, β so that their roles in the gradients are visible.
            bn.gamma = bn
                .gamma
                .map(|g| g.random_like(Distribution::Normal(1.0, 0.5)).require_grad());
            bn.beta = bn
                .beta
                .map(|b| b.random_like(Distribution::Normal(0.0, 0.5)).require_grad());
            // An independent layer with the same γ and β (a clone would share the running
            // statistics' storage).
            let mut ours_bn = BatchNormConfig::new(c).init(&dev);
            ours_bn.gamma = Param::from_tensor(bn.gamma.val().detach().require_grad());
            ours_bn.beta = Param::from_tensor(bn.beta.val().detach().require_grad());
            assert_eq!(
                uses_own_batch_norm(&ours_bn, &Tensor::<4>::zeros([n, c, h, w], &dev)),
                on_flex()
            );
            let x = Tensor::<4>::random([n, c, h, w], Distribution::Normal(0.7, 2.0), &dev)
                .require_grad();
            let y = batch_norm(&ours_bn, x.clone());
            let y_ref = bn.forward(x.clone());
            let e = rel_err(y.clone(), y_ref.clone());
            assert!(e < 1e-4, "case {case}: forward {e}");
            let r = Tensor::<4>::random([n, c, h, w], Distribution::Normal(0.0, 1.0), &dev);
            let g = (y * r.clone()).sum().backward();
            let g_ref = (y_ref * r).sum().backward();
            let e = rel_err(x.grad(&g).unwrap(), x.grad(&g_ref).unwrap());
            assert!(e < 1e-4, "case {case}: input gradient {e}");
            for (a, b, name) in [
                (&ours_bn.gamma, &bn.gamma, "gamma"),
                (&ours_bn.beta, &bn.beta, "beta"),
            ] {
                let e = rel_err(a.grad(&g).unwrap(), b.grad(&g_ref).unwrap());
                assert!(e < 1e-4, "case {case}: {name} gradient {e}");
            }
            for (a, b, name) in [
                (&ours_bn.running_mean, &bn.running_mean, "running mean"),
                (&ours_bn.running_var, &bn.running_var, "running var"),
            ] {
                let e = rel_err(a.value_sync(), b.value_sync());
                assert!(e < 1e-4, "case {case}: {name} {e}");
            }
        }
    }
}

/// BN fused with its activation and a channel scale, y = s · act(BN(x)), against Burn's
/// `BatchNorm::forward`, the activation and a broadcast product: output and the gradients
/// of x, γ, β and s, for each activation, with and without s; also with γ and β frozen
/// (an architecture step: only x and s need gradients).
#[test]
fn batch_norm_act_matches_burn() {
    let _rng = device_rng_shared();
    let mut rng = StdRng::seed_from_u64(5);
    let dev = plain_device().autodiff();
    for act in [Act::None, Act::Relu, Act::Hswish] {
        for (scaled, frozen) in [(false, false), (true, false), (true, true)] {
            // At least 4 values per channel: with 2, x̂ = ±1 and dL/dx is exactly 0, so
            // both sides are rounding noise.
            let (n, c) = (rng.random_range(1..5), rng.random_range(1..20));
            let (h, w) = (rng.random_range(2..12), rng.random_range(2..12));
            let case = format!("{act:?} scaled {scaled} frozen {frozen} [{n}, {c}, {h}, {w}]");
            let gamma = Tensor::<1>::random([c], Distribution::Normal(1.0, 0.5), &dev);
            let beta = Tensor::<1>::random([c], Distribution::Normal(0.0, 1.5), &dev);
            let layer = || {
                let mut bn = BatchNormConfig::new(c).init(&dev);
                let p = |t: &Tensor<1>| {
                    let t = t.clone().detach();
                    Param::from_tensor(if frozen { t } else { t.require_grad() })
                };
                bn.gamma = p(&gamma);
                bn.beta = p(&beta);
                bn
            };
            let (ours_bn, bn) = (layer(), layer());
            let x = Tensor::<4>::random([n, c, h, w], Distribution::Normal(0.3, 2.0), &dev)
                .require_grad();
            let s = scaled.then(|| {
                Tensor::<1>::random([c], Distribution::Uniform(-1.0, 1.5), &dev).require_grad()
            });
            let y = batch_norm_act(&ours_bn, x.clone(), act, s.clone());
            let y_ref = act.forward(bn.forward(x.clone()));
            let y_ref = match &s {
                Some(s) => y_ref * s.clone().reshape([1, c, 1, 1]),
                None => y_ref,
            };
            let e = rel_err(y.clone(), y_ref.clone());
            assert!(e < 1e-4, "{case}: forward {e}");
            let r = Tensor::<4>::random([n, c, h, w], Distribution::Normal(0.0, 1.0), &dev);
            let g = (y * r.clone()).sum().backward();
            let g_ref = (y_ref * r).sum().backward();
            let e = rel_err(x.grad(&g).unwrap(), x.grad(&g_ref).unwrap());
            assert!(e < 1e-4, "{case}: input gradient {e}");
            if let Some(s) = &s {
                let e = rel_err(s.grad(&g).unwrap(), s.grad(&g_ref).unwrap());
                assert!(e < 1e-4, "{case}: scale gradient {e}");
            }
            for (a, b, name) in [
                (&ours_bn.gamma, &bn.gamma, "gamma"),
                (&ours_bn.beta, &bn.beta, "beta"),
            ] {
                match (a.grad(&g), b.grad(&g_ref)) {
                    (Some(a), Some(b)) => {
                        let e = rel_err(a, b);
                        assert!(e < 1e-4, "{case}: {name} gradient {e}");
                    }
                    (None, None) => assert!(frozen, "{case}: no {name} gradient"),
                    _ => panic!("{case}: {name} gradient present on one side only"),
                }
            }
        }
    }
}

/// `batch_norm_act_into` (on Flex one op that never writes BN's output) against
/// `batch_norm_act` followed by the depthwise or pointwise convolution: the output, the
/// gradients of x, γ, β, s, the convolution's weight and the depthwise kernel mask, and
/// the running statistics are the same bits, since the fused op does the same arithmetic
/// in the same order. Each activation, with and without a scale; gradients as in a weight
/// step (x, γ, β, weight), an architecture step (x, s and the kernel mask only), and with
/// x needing none (parameters only; the weight only); geometries of both depthwise
/// weight-gradient paths (the row ring at strides 1 and 2, 8 and 4 lanes; the per-tap sums
/// at odd widths and stride 3), batch 1 (the pointwise products then run one after
/// another); with and without gradient checkpointing. Off Flex the op is those two ops by
/// construction, so there is nothing to compare and the test returns.
#[test]
fn batch_norm_act_into_matches_the_two_ops() {
    if !on_flex() {
        return;
    }
    let _rng = device_rng_shared();
    // (n, c, h, w, k, stride)
    let shapes = [
        (2, 5, 16, 16, 3, 1),
        (3, 4, 12, 12, 5, 1),
        (2, 6, 16, 16, 5, 2),
        (1, 3, 8, 8, 7, 2),
        (2, 4, 7, 9, 3, 2),
        (2, 3, 11, 10, 3, 3),
    ];
    // Which inputs need a gradient: (name, x, γ and β, weight, kernel mask).
    let modes = [
        ("weight step", true, true, true, false),
        ("architecture step", true, false, false, true),
        ("parameters only", false, true, true, false),
        ("weight only", false, false, true, false),
    ];
    for dev in [
        plain_device().autodiff(),
        plain_device().autodiff().gradient_checkpointing(),
    ] {
        for (i, &(n, c, h, w, k, stride)) in shapes.iter().enumerate() {
            let nexts = [
                NextConv::Depthwise {
                    stride,
                    padding: k / 2,
                },
                NextConv::Pointwise,
            ];
            let acts = [Act::None, Act::Relu, Act::Hswish];
            let settings = nexts
                .into_iter()
                .flat_map(|n| acts.map(|a| (n, a)))
                .flat_map(|(n, a)| [false, true].map(|s| (n, a, s)))
                .flat_map(|(n, a, s)| modes.map(|m| (n, a, s, m)));
            for (next, act, scaled, (mode, x_grad, bn_grad, w_grad, mask_grad)) in settings {
                let case = format!("shape {i} {next:?} {act:?} scaled {scaled} {mode}");
                let tracked = |t: Tensor<4>, on: bool| if on { t.require_grad() } else { t };
                let param = |t: Tensor<1>| {
                    let t = t.detach();
                    Param::from_tensor(if bn_grad { t.require_grad() } else { t })
                };
                let gamma = Tensor::<1>::random([c], Distribution::Normal(1.0, 0.5), &dev);
                let beta = Tensor::<1>::random([c], Distribution::Normal(0.0, 1.5), &dev);
                let layer = || {
                    let mut bn = BatchNormConfig::new(c).init(&dev);
                    bn.gamma = param(gamma.clone());
                    bn.beta = param(beta.clone());
                    bn
                };
                let (fused_bn, bn) = (layer(), layer());
                let x = Tensor::<4>::random([n, c, h, w], Distribution::Normal(0.3, 2.0), &dev);
                let x = tracked(x, x_grad);
                let s = scaled.then(|| {
                    Tensor::<1>::random([c], Distribution::Uniform(-1.0, 1.5), &dev).require_grad()
                });
                let shape = match next {
                    NextConv::Depthwise { .. } => [c, 1, k, k],
                    NextConv::Pointwise => [c + 3, c, 1, 1],
                };
                let kernel = Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &dev);
                let kernel = tracked(kernel, w_grad);
                // A superkernel's kernel mask multiplies the depthwise weight; each side its
                // own product, as a backward pass consumes its graph.
                let depthwise = matches!(next, NextConv::Depthwise { .. });
                let mask = Tensor::<4>::random([1, 1, k, k], Distribution::Uniform(0.2, 1.0), &dev);
                let mask = tracked(mask, mask_grad && depthwise);
                let weight = || {
                    if depthwise {
                        kernel.clone() * mask.clone()
                    } else {
                        kernel.clone()
                    }
                };
                let y = batch_norm_act_into(&fused_bn, x.clone(), act, s.clone(), weight(), next);
                let y_bn = batch_norm_act(&bn, x.clone(), act, s.clone());
                let y_two = match next {
                    NextConv::Depthwise { stride, padding } => {
                        depthwise_conv2d(y_bn, weight(), stride, padding)
                    }
                    NextConv::Pointwise => pointwise_conv2d(y_bn, weight()),
                };
                assert_eq!(host(y.clone()), host(y_two.clone()), "{case}: output");
                let r = Tensor::<4>::random(y.dims(), Distribution::Normal(0.0, 1.0), &dev);
                let g = (y * r.clone()).sum().backward();
                let g_two = (y_two * r).sum().backward();
                let both = |t: &Tensor<4>| (t.grad(&g).map(host), t.grad(&g_two).map(host));
                let both1 = |t: &Tensor<1>| (t.grad(&g).map(host), t.grad(&g_two).map(host));
                let mut grads = vec![
                    ("x", x_grad, both(&x)),
                    ("weight", w_grad, both(&kernel)),
                    ("kernel mask", mask_grad && depthwise, both(&mask)),
                ];
                if let Some(s) = &s {
                    grads.push(("s", true, both1(s)));
                }
                for (name, a, b) in [
                    ("gamma", &fused_bn.gamma, &bn.gamma),
                    ("beta", &fused_bn.beta, &bn.beta),
                ] {
                    grads.push((
                        name,
                        bn_grad,
                        (a.grad(&g).map(host), b.grad(&g_two).map(host)),
                    ));
                }
                for (name, wanted, (a, b)) in grads {
                    match (a, b) {
                        (Some(a), Some(b)) => assert_eq!(a, b, "{case}: {name} gradient"),
                        (None, None) => assert!(!wanted, "{case}: no {name} gradient"),
                        _ => panic!("{case}: {name} gradient on one side only"),
                    }
                }
                for (a, b, name) in [
                    (&fused_bn.running_mean, &bn.running_mean, "running mean"),
                    (&fused_bn.running_var, &bn.running_var, "running var"),
                ] {
                    assert_eq!(host(a.value_sync()), host(b.value_sync()), "{case}: {name}");
                }
            }
        }
    }
}

/// Outside training (a plain device) the layer normalises with its running statistics.
#[test]
fn batch_norm_outside_training_uses_running_statistics() {
    let _rng = device_rng_shared();
    let dev = plain_device();
    let bn = BatchNormConfig::new(3).init(&dev);
    let x = Tensor::<4>::random([2, 3, 4, 4], Distribution::Normal(5.0, 1.0), &dev);
    assert!(!uses_own_batch_norm(&bn, &x));
    // Running mean 0, variance 1: y ≈ x.
    assert!(rel_err(batch_norm(&bn, x.clone()), x) < 1e-4);
}

/// A BN layer used on its first w channels (a supernet path) normalises and updates those
/// channels as a w-wide layer with the same γ and β would, and leaves the others alone.
#[test]
fn batch_norm_on_the_first_channels_of_a_wider_layer() {
    let _rng = device_rng_shared();
    let dev = plain_device().autodiff();
    let (c, w) = (12, 5);
    let mut wide = BatchNormConfig::new(c).init(&dev);
    wide.gamma = Param::from_tensor(Tensor::random([c], Distribution::Normal(1.0, 0.5), &dev));
    wide.beta = Param::from_tensor(Tensor::random([c], Distribution::Normal(0.0, 0.5), &dev));
    let mut narrow = BatchNormConfig::new(w).init(&dev);
    let first = |p: &Param<Tensor<1>>| {
        Param::from_tensor(Tensor::from_data(p.val().narrow(0, 0, w).into_data(), &dev))
    };
    narrow.gamma = first(&wide.gamma);
    narrow.beta = first(&wide.beta);
    let x = Tensor::<4>::random([3, w, 6, 7], Distribution::Normal(0.5, 2.0), &dev);
    let e = rel_err(batch_norm(&wide, x.clone()), narrow.forward(x));
    assert!(e < 1e-4, "output {e}");
    for (a, b, init) in [
        (&wide.running_mean, &narrow.running_mean, 0.0),
        (&wide.running_var, &narrow.running_var, 1.0),
    ] {
        let all = a.value_sync();
        let e = rel_err(all.clone().narrow(0, 0, w), b.value_sync());
        assert!(e < 1e-4, "running statistics of the used channels {e}");
        let rest = all.narrow(0, w, c - w).sub_scalar(init).abs().max();
        assert_eq!(rest.into_scalar::<f32>(), 0.0, "unused channels changed");
    }
}

/// `f` of the same `inputs` (host values and shapes) on `dev` and on `reference`: the
/// output and the gradient of every input under one random weighting of the outputs.
fn outputs_and_gradients(
    inputs: &[(Vec<f32>, [usize; 4])],
    f: &dyn Fn(&[Tensor<4>]) -> Tensor<4>,
    dev: &Device,
    weighting: &mut Option<Vec<f32>>,
) -> Vec<Vec<f32>> {
    let xs: Vec<Tensor<4>> = inputs
        .iter()
        .map(|(v, s)| {
            Tensor::<4>::from_data(burn::tensor::TensorData::new(v.clone(), *s), dev).require_grad()
        })
        .collect();
    let y = f(&xs);
    let dims = y.dims();
    let r = weighting.get_or_insert_with(|| {
        let mut rng = StdRng::seed_from_u64(17);
        (0..dims.iter().product::<usize>())
            .map(|_| rng.random_range(-1.0..1.0))
            .collect()
    });
    let r = Tensor::<4>::from_data(burn::tensor::TensorData::new(r.clone(), dims), dev);
    let g = (y.clone() * r).sum().backward();
    let mut out = vec![host(y)];
    out.extend(xs.iter().map(|x| host(x.grad(&g).expect("a gradient"))));
    out
}

/// Off Flex (the ndarray and wgpu passes of `.ci/run`) our kernels' fallbacks compute with
/// that backend's Burn ops, so comparing them with the `reference_*` functions on the same
/// backend checks little. Here the backend under test is compared with Flex, where our own
/// kernels run: depthwise and pointwise convolution, channel padding, the plane mean and
/// scale, the scaled add, the lattice gather and scatter, and training-mode batch norm
/// with each activation and a channel scale; outputs and every input's gradient within
/// 1e-4 of the largest magnitude. On Flex itself there is nothing independent to compare
/// with, and the test returns.
#[test]
fn backends_match_our_flex_kernels() {
    if on_flex() {
        return;
    }
    let _rng = device_rng_shared();
    let (dev, flex) = (plain_device().autodiff(), Device::flex().autodiff());
    let mut rng = StdRng::seed_from_u64(13);
    let mut random = |s: [usize; 4], mean: f32| -> (Vec<f32>, [usize; 4]) {
        let v = (0..s.iter().product::<usize>())
            .map(|_| mean + rng.random_range(-2.0..2.0f32))
            .collect();
        (v, s)
    };
    let mut checked = 0;
    let mut check =
        |what: &str, inputs: Vec<(Vec<f32>, [usize; 4])>, f: &dyn Fn(&[Tensor<4>]) -> Tensor<4>| {
            let mut r = None;
            let ours = outputs_and_gradients(&inputs, f, &flex, &mut r);
            let theirs = outputs_and_gradients(&inputs, f, &dev, &mut r);
            for (k, (a, b)) in theirs.iter().zip(&ours).enumerate() {
                let e = host_rel_err(a, b);
                assert!(
                    e < 1e-4,
                    "{what}: {} differs from Flex by {e}",
                    if k == 0 {
                        "output".to_string()
                    } else {
                        format!("gradient of input {k}")
                    }
                );
            }
            checked += 1;
        };
    for c in cases().into_iter().take(12) {
        let (s, p) = (c.stride, c.padding);
        check(
            &format!("depthwise {}x{} k{} s{s} p{p}", c.h, c.w, c.k),
            vec![
                random([c.n, c.c, c.h, c.w], 0.0),
                random([c.c, 1, c.k, c.k], 0.0),
            ],
            &move |t| depthwise_conv2d(t[0].clone(), t[1].clone(), s, p),
        );
    }
    for (n, ci, co, h, w) in [(1, 3, 5, 7, 5), (3, 17, 9, 4, 6), (2, 32, 40, 3, 3)] {
        check(
            &format!("pointwise {ci}->{co} {h}x{w}"),
            vec![random([n, ci, h, w], 0.0), random([co, ci, 1, 1], 0.0)],
            &|t| pointwise_conv2d(t[0].clone(), t[1].clone()),
        );
    }
    check("pad channels", vec![random([2, 3, 5, 4], 0.0)], &|t| {
        pad_channels(t[0].clone(), 7)
    });
    check(
        "plane mean and scale",
        vec![random([2, 3, 5, 3], 0.0), random([2, 3, 1, 1], 0.0)],
        &|t| plane_scale(t[0].clone(), t[1].clone()) + plane_mean(t[0].clone()),
    );
    check(
        "add scaled",
        vec![
            random([2, 5, 4, 3], 0.0),
            random([2, 3, 4, 3], 0.0),
            random([1, 1, 1, 1], 0.0),
        ],
        &|t| add_scaled(t[0].clone(), t[1].clone(), t[2].clone().reshape([1])),
    );
    let positions = lattice_positions(9, 6);
    let at: Vec<i64> = positions.iter().map(|&p| p as i64).collect();
    check("lattice gather", vec![random([2, 3, 9, 9], 0.0)], &|t| {
        let index = Tensor::<1, Int>::from_ints(at.as_slice(), &t[0].device());
        lattice_gather(t[0].clone(), &positions, &index)
    });
    check("lattice scatter", vec![random([2, 3, 6, 6], 0.0)], &|t| {
        let index = Tensor::<1, Int>::from_ints(at.as_slice(), &t[0].device());
        lattice_scatter(t[0].clone(), &positions, &index, 9)
    });
    for act in [Act::None, Act::Relu, Act::Hswish] {
        for (n, c, h, w) in [(4, 6, 5, 3), (1, 9, 4, 4)] {
            check(
                &format!("batch norm {act:?} [{n}, {c}, {h}, {w}]"),
                vec![
                    random([n, c, h, w], 0.7),
                    random([c, 1, 1, 1], 1.0),
                    random([c, 1, 1, 1], 0.0),
                    random([c, 1, 1, 1], 0.5),
                ],
                &move |t| {
                    let d = t[0].device();
                    let mut bn = BatchNormConfig::new(c).init(&d);
                    // Not leaves (reshaped inputs), so not `Param::from_tensor`.
                    let id = burn::module::ParamId::new;
                    bn.gamma = Param::initialized(id(), t[1].clone().reshape([c]));
                    bn.beta = Param::initialized(id(), t[2].clone().reshape([c]));
                    batch_norm_act(&bn, t[0].clone(), act, Some(t[3].clone().reshape([c])))
                },
            );
        }
    }
    assert_eq!(checked, 12 + 3 + 5 + 6);
}
