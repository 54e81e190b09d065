//! Channel masks: for width options c_1..c_K of a C-channel tensor,
//! `M[j] = sum_{i : c_i > j} g_i`, computed as `g · P` with the constant prefix matrix
//! `P[i][j] = [c_i > j]`.

use burn::tensor::{Device, Tensor};

/// The prefix matrix P [K, C] of width options.
pub fn prefix_matrix(widths: &[usize], device: &Device) -> Tensor<2> {
    let c = widths.iter().copied().max().unwrap_or(0);
    let v: Vec<f32> = widths
        .iter()
        .flat_map(|&w| (0..c).map(move |j| if w > j { 1.0 } else { 0.0 }))
        .collect();
    Tensor::<1>::from_floats(v.as_slice(), device).reshape([widths.len(), c])
}

/// The soft mask `g · P` as [1, C, 1, 1].
pub fn channel_mask(g: &Tensor<1>, prefix: &Tensor<2>) -> Tensor<4> {
    let c = prefix.dims()[1];
    g.clone()
        .unsqueeze::<2>()
        .matmul(prefix.clone())
        .reshape([1, c, 1, 1])
}

/// The 0/1 matrix E [K_a, K_b] with `E[i][j] = [a_i == b_j]`.
pub fn equality_matrix(a: &[usize], b: &[usize], device: &Device) -> Option<Tensor<2>> {
    let v: Vec<f32> = a
        .iter()
        .flat_map(|&x| b.iter().map(move |&y| if x == y { 1.0 } else { 0.0 }))
        .collect();
    if v.iter().all(|&x| x == 0.0) {
        return None;
    }
    Some(Tensor::<1>::from_floats(v.as_slice(), device).reshape([a.len(), b.len()]))
}

/// P(a == b) = g_aᵀ E g_b for independent choices, shape `[1]`.
pub fn prob_equal(g_a: &Tensor<1>, e: &Tensor<2>, g_b: &Tensor<1>) -> Tensor<1> {
    g_a.clone()
        .unsqueeze::<2>()
        .matmul(e.clone())
        .matmul(g_b.clone().unsqueeze_dim::<2>(1))
        .reshape([1])
}

/// The superkernel matrix K [T, k·k] of kernel sizes k_1..k_T within the largest one k:
/// row t is the centred k_t × k_t window, so `g · K` is the expected kernel mask.
pub fn kernel_matrix(kernels: &[usize], device: &Device) -> Tensor<2> {
    let k = kernels.iter().copied().max().unwrap_or(1);
    let v: Vec<f32> = kernels
        .iter()
        .flat_map(|&kt| {
            let lo = (k - kt) / 2;
            (0..k * k).map(move |i| {
                let (r, c) = (i / k, i % k);
                let inside = (lo..lo + kt).contains(&r) && (lo..lo + kt).contains(&c);
                if inside { 1.0 } else { 0.0 }
            })
        })
        .collect();
    Tensor::<1>::from_floats(v.as_slice(), device).reshape([kernels.len(), k * k])
}
