//! The masked inverted-residual supernet block: one [`IrBlock`] per kernel × SE branch at
//! the largest widths (or, in superkernel mode, one shared block), an expansion mask after
//! pw and dw, the stage's output mask after the pwl BN, an optional skip branch and a
//! probability-weighted residual.

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::eff::Eff;
use super::gumbel::ArchWeights;
use super::mask::{channel_mask, equality_matrix, kernel_matrix, prefix_matrix, prob_equal};
use super::plan::{BlockPlan, Branch, Options};
use crate::arch::IrLayout;
use crate::cost::{self, Convention, Cost, IrShape};
use crate::nn::{ConvBnAct, ConvBnActConfig, IrBlock, IrBlockConfig, IrMasks, fit_channels};

/// How a block's kernel × SE options are held.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum OpSharing {
    /// One block per option, y = Σ_t g_t · branch_t(x) (the paper).
    #[default]
    Branches,
    /// *(ours)* One block with the largest kernel: the dw weights are multiplied by the
    /// expected kernel mask Σ_t g_t K_t / s and SE is present with probability
    /// Σ_{t: SE} g_t / s, s = Σ_t g_t (skip excluded); y = s · block(x). Exact for
    /// one-hot g; one feature map per block instead of one per option.
    Superkernel,
}

crate::json::from_str_by_serde!(OpSharing, "op sharing");

/// One searched block.
#[derive(Module, Debug)]
pub struct SuperBlock {
    /// One block per op branch, or the one shared block of a superkernel.
    pub branches: Vec<IrBlock>,
    /// Superkernel: the kernel matrix of the branches [T, k·k] (when kernels differ).
    pub kernel_select: Option<Tensor<2>>,
    /// Superkernel: `[branch t has SE]`, shape `[T]` (when some but not all branches have SE).
    pub se_select: Option<Tensor<1>>,
    /// Superkernel with coupled ops: `[op t has hidden width i]` [T, K_e].
    pub op_mid: Option<Tensor<2>>,
    /// Prefix matrix of the hidden-width options [K_e, mid_max] (where one block holds
    /// several hidden widths).
    pub mid_prefix: Option<Tensor<2>>,
    /// Prefix matrix of the SE hidden widths that follow the hidden width.
    pub se_prefix: Option<Tensor<2>>,
    /// The hidden-width options as floats `[K_e]` (for the expected hidden width).
    pub mid_values: Tensor<1>,
    /// The SE hidden width of each hidden-width option, as floats `[K_e]`.
    pub se_values: Tensor<1>,
    /// `[mid_i == in_j]`: where the pw expansion of the derived block is absent.
    pub pw_eq: Option<Tensor<2>>,
    /// `[in_j == out_k]` for a stage's first block with stride 1: where it has a residual.
    pub res_eq: Option<Tensor<2>>,
    /// The skip projection, 1×1 conv (stride) → BN → act, where skip may change the shape.
    pub proj: Option<ConvBnAct>,
    /// Per hidden-width option: `pw_fixed` against the input widths.
    #[module(skip)]
    pub pw_present: Vec<Option<bool>>,
    /// The block's resolved plan.
    #[module(skip)]
    pub plan: BlockPlan,
    /// The op branches share one block (superkernel mode with more than one branch).
    #[module(skip)]
    pub superkernel: bool,
}

/// Everything a block needs from the architecture weights in one forward pass.
pub struct BlockWeights {
    /// The masks of each held block (one per branch, or one for a superkernel).
    pub masks: Vec<IrMasks>,
    /// Weight of each op branch `[1, 1, 1, 1]` (skip excluded), or `None` for one branch.
    pub branch: Option<Vec<Tensor<4>>>,
    /// Weight of the identity path added to the output.
    pub residual: Residual,
    /// Weight of the skip projection: P(skip) · P(the shape changes).
    pub projection: Option<Tensor<4>>,
}

/// How the input is added back.
pub enum Residual {
    /// No residual.
    None,
    /// The input is always added.
    Full,
    /// The input is added times this probability [1, 1, 1, 1] that the input and output widths are
    /// equal.
    Weighted(Tensor<4>),
}

/// Weights of a value's choice, or the constant `[1]` when it is fixed.
pub fn option_weights<'a, T>(
    o: &Options<T>,
    g: &'a ArchWeights,
    one: &'a Tensor<1>,
) -> &'a Tensor<1> {
    match o.choice {
        Some(c) => g.get(c),
        None => one,
    }
}

fn as_f32(v: &[usize]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

/// w · M as a channel mask [1, c, 1, 1] (w [1, 1, 1, 1]; M [1, c, 1, 1], or all ones).
fn weighted_mask(m: Option<&Tensor<4>>, w: &Tensor<4>, c: usize) -> Tensor<4> {
    match m {
        Some(m) => m.clone() * w.clone(),
        None => w.clone().expand([1, c, 1, 1]),
    }
}

fn scalar4(t: Tensor<1>) -> Tensor<4> {
    t.reshape([1, 1, 1, 1])
}

/// A block's hidden width: weights over its options, or one option (a coupled op's).
#[derive(Clone, Copy)]
enum Mid<'a> {
    Weighted(&'a Tensor<1>),
    Option(usize),
}

/// Whether the pw expansion of hidden width `mid` is present for every input width
/// (`Some(true)`), for none (`Some(false)`), or depends on the input-width choice.
fn pw_fixed(mid: usize, c_in: &[usize]) -> Option<bool> {
    let equal = c_in.iter().filter(|&&c| c == mid).count();
    match equal {
        0 => Some(true),
        n if n == c_in.len() => Some(false),
        _ => None,
    }
}

/// The blocks a searched block holds, at the largest widths: one per op branch, or the
/// one superkernel block (the largest kernel, SE if any branch has it). A coupled op's
/// own block has its own hidden width; `pw_present` says per hidden width whether the
/// 1×1 expansion exists (`None`: it depends on the input width).
fn held_blocks(
    plan: &BlockPlan,
    superkernel: bool,
    pw_present: &[Option<bool>],
    device: &Device,
) -> Vec<IrBlock> {
    let shared = [Branch {
        kernel: plan.branches.iter().map(|b| b.kernel).max().unwrap_or(1),
        se: plan.has_se_branch(),
        mid: None,
    }];
    let held: &[Branch] = if superkernel { &shared } else { &plan.branches };
    let (mid_max, se_max) = (plan.mid.max(), plan.se_hidden.iter().copied().max());
    let all_equal = pw_present.iter().all(|&p| p == Some(false));
    held.iter()
        .map(|br| {
            let (mid, se, pw) = match br.mid {
                Some(i) => (
                    plan.mid.values[i],
                    plan.se_hidden[i],
                    pw_present[i] != Some(false),
                ),
                None => (mid_max, se_max.unwrap_or(0), !all_equal),
            };
            IrBlockConfig::new(
                plan.c_in.max(),
                mid,
                plan.c_out.max(),
                br.kernel,
                plan.stride,
                plan.act,
                pw,
                false,
            )
            .with_se(br.se.then_some(se))
            .init(device)
        })
        .collect()
}

impl SuperBlock {
    /// Build the block of `plan`: one [`IrBlock`] per op branch at the largest widths, or one
    /// shared block in superkernel mode.
    pub fn new(plan: &BlockPlan, sharing: OpSharing, device: &Device) -> Self {
        let superkernel = sharing == OpSharing::Superkernel && plan.branches.len() > 1;
        let coupled = plan.coupled();
        let kernels: Vec<usize> = plan.branches.iter().map(|b| b.kernel).collect();
        let ses: Vec<bool> = plan.branches.iter().map(|b| b.se).collect();
        let pw_present: Vec<Option<bool>> = plan
            .mid
            .values
            .iter()
            .map(|&m| pw_fixed(m, &plan.c_in.values))
            .collect();
        let branches = held_blocks(plan, superkernel, &pw_present, device);
        // One held block spans several hidden widths: the expansion choice's, or the
        // coupled ops' in a superkernel.
        let mixed = plan.mid.values.len() > 1 && (plan.mid.choice.is_some() || superkernel);
        let f = |v: &[usize]| Tensor::<1>::from_floats(as_f32(v).as_slice(), device);
        let kernel_select = (superkernel && kernels.iter().any(|&k| k != kernels[0]))
            .then(|| kernel_matrix(&kernels, device));
        let se_select = (superkernel && ses.iter().any(|&x| x != ses[0])).then(|| {
            let v: Vec<f32> = ses.iter().map(|&x| f32::from(u8::from(x))).collect();
            Tensor::<1>::from_floats(v.as_slice(), device)
        });
        let op_mid = (superkernel && coupled && mixed).then(|| {
            let k = plan.mid.values.len();
            let v: Vec<f32> = plan
                .branches
                .iter()
                .flat_map(|br| (0..k).map(move |i| f32::from(u8::from(br.mid == Some(i)))))
                .collect();
            Tensor::<1>::from_floats(v.as_slice(), device).reshape([plan.branches.len(), k])
        });
        let proj = plan.may_project().then(|| {
            ConvBnActConfig::new(plan.c_in.max(), plan.c_out.max())
                .with_stride(plan.stride)
                .with_act(Some(plan.skip_act))
                .init(device)
        });
        SuperBlock {
            branches,
            kernel_select,
            se_select,
            op_mid,
            mid_prefix: mixed.then(|| prefix_matrix(&plan.mid.values, device)),
            se_prefix: (mixed && plan.has_se_branch())
                .then(|| prefix_matrix(&plan.se_hidden, device)),
            mid_values: f(&plan.mid.values),
            se_values: f(&plan.se_hidden),
            pw_eq: equality_matrix(&plan.mid.values, &plan.c_in.values, device),
            res_eq: (plan.is_first() && plan.stride == 1)
                .then(|| equality_matrix(&plan.c_in.values, &plan.c_out.values, device))
                .flatten(),
            proj,
            pw_present,
            plan: plan.clone(),
            superkernel,
        }
    }

    /// P(the pw expansion is present), 1 − P(mid == in), for the hidden width `mid`.
    fn pw_keep(&self, mid: Mid<'_>, g_in: &Tensor<1>) -> Eff {
        let fixed = match mid {
            Mid::Weighted(_) => {
                let f = &self.pw_present;
                f.iter().all(|x| *x == f[0]).then_some(f[0]).flatten()
            }
            Mid::Option(i) => self.pw_present[i],
        };
        match (fixed, &self.pw_eq) {
            (Some(present), _) => Eff::Const(if present { 1.0 } else { 0.0 }),
            (None, Some(e)) => {
                let eq = match mid {
                    Mid::Weighted(g_mid) => prob_equal(g_mid, e, g_in),
                    Mid::Option(i) => e
                        .clone()
                        .narrow(0, i, 1)
                        .matmul(g_in.clone().unsqueeze_dim::<2>(1))
                        .reshape([1]),
                };
                Eff::Var(eq.neg().add_scalar(1.0))
            }
            (None, None) => Eff::Const(1.0),
        }
    }

    /// The superkernel's branch weights g_t (skip excluded) and their sum s.
    fn shared_weights(&self, g: &ArchWeights) -> Option<(Tensor<1>, Tensor<1>)> {
        let n_ops = self.plan.branches.len();
        self.plan.op_choice.filter(|_| self.superkernel).map(|c| {
            let g_t = g.get(c).clone().narrow(0, 0, n_ops);
            let s = g_t.clone().sum();
            (g_t, s)
        })
    }

    /// Weights of the held block's hidden-width options: the expansion choice's, or in
    /// a coupled superkernel Σ_t (g_t / s) · [op t has width i].
    fn mid_weights(
        &self,
        g: &ArchWeights,
        one: &Tensor<1>,
        shared: Option<&(Tensor<1>, Tensor<1>)>,
    ) -> Tensor<1> {
        match (&self.op_mid, shared) {
            (Some(m), Some((g_t, s))) => {
                let k = self.plan.mid.values.len();
                g_t.clone()
                    .div(s.clone().clamp_min(1e-12))
                    .unsqueeze::<2>()
                    .matmul(m.clone())
                    .reshape([k])
            }
            _ => option_weights(&self.plan.mid, g, one).clone(),
        }
    }

    /// P(skip) · P(the shape changes): the weight of the skip projection.
    fn projection_weight(&self, g: &ArchWeights, one: &Tensor<1>) -> Option<Tensor<1>> {
        let p = &self.plan;
        let c = p.op_choice.filter(|_| self.proj.is_some())?;
        let g_skip = g.get(c).clone().narrow(0, p.branches.len(), 1);
        Some(match (&self.res_eq, p.stride) {
            (Some(e), 1) => {
                let same = prob_equal(
                    option_weights(&p.c_in, g, one),
                    e,
                    option_weights(&p.c_out, g, one),
                );
                g_skip * same.neg().add_scalar(1.0)
            }
            _ => g_skip,
        })
    }

    /// A superkernel's kernel mask (the branch-weighted kernel footprints) and SE keep
    /// weight, from its branch weights `g_t` and their sum `s` (`None` off superkernel).
    fn superkernel_masks(
        &self,
        shared: Option<&(Tensor<1>, Tensor<1>)>,
    ) -> (Option<Tensor<4>>, Option<Tensor<4>>) {
        let Some((g_t, s)) = shared else {
            return (None, None);
        };
        let s = s.clone().clamp_min(1e-12);
        let kernel = self.kernel_select.as_ref().map(|sel| {
            let k = self.branches[0].dw.conv.kernel_size[0];
            g_t.clone()
                .unsqueeze::<2>()
                .matmul(sel.clone())
                .div(s.clone().unsqueeze())
                .reshape([1, 1, k, k])
        });
        let se_keep = self
            .se_select
            .as_ref()
            .map(|sel| scalar4((g_t.clone() * sel.clone()).sum().div(s.clone())));
        (kernel, se_keep)
    }

    /// The residual: none where the stride changes the size, full in a stage's later
    /// blocks, else weighted by P(input width == output width).
    fn residual(&self, g_in: &Tensor<1>, g_out: &Tensor<1>) -> Residual {
        let p = &self.plan;
        if p.stride != 1 {
            Residual::None
        } else if !p.is_first() {
            Residual::Full
        } else {
            match &self.res_eq {
                None => Residual::None,
                Some(_) if p.widths_tied() => Residual::Full,
                Some(e) => Residual::Weighted(scalar4(prob_equal(g_in, e, g_out))),
            }
        }
    }

    /// Masks and branch weights from g; `out_mask` is the stage's shared output mask.
    pub fn weights(
        &self,
        g: &ArchWeights,
        out_mask: Option<&Tensor<4>>,
        one: &Tensor<1>,
    ) -> BlockWeights {
        let p = &self.plan;
        let g_in = option_weights(&p.c_in, g, one);
        let g_out = option_weights(&p.c_out, g, one);
        let n_ops = p.branches.len();
        let shared = self.shared_weights(g);
        let (kernel, se_keep) = self.superkernel_masks(shared.as_ref());
        let as_mask = |e: Eff| match e {
            Eff::Var(t) => Some(scalar4(t)),
            Eff::Const(_) => None,
        };
        let masks = if p.coupled() && !self.superkernel {
            // Each coupled op's block has its own fixed hidden width.
            p.branches
                .iter()
                .map(|br| IrMasks {
                    out: out_mask.cloned(),
                    pw_keep: as_mask(self.pw_keep(Mid::Option(br.mid.unwrap_or(0)), g_in)),
                    ..IrMasks::default()
                })
                .collect()
        } else {
            let g_mid = self.mid_weights(g, one, shared.as_ref());
            let masks = IrMasks {
                kernel,
                se_keep,
                expand: self.mid_prefix.as_ref().map(|m| channel_mask(&g_mid, m)),
                se: self.se_prefix.as_ref().map(|m| channel_mask(&g_mid, m)),
                out: out_mask.cloned(),
                pw_keep: as_mask(self.pw_keep(Mid::Weighted(&g_mid), g_in)),
            };
            vec![masks; self.branches.len()]
        };
        let branch = match &shared {
            Some((_, s)) => Some(vec![scalar4(s.clone())]),
            None => p.op_choice.map(|c| {
                let g_op = g.get(c);
                (0..n_ops)
                    .map(|t| scalar4(g_op.clone().narrow(0, t, 1)))
                    .collect()
            }),
        };
        let residual = self.residual(g_in, g_out);
        BlockWeights {
            masks,
            branch,
            residual,
            projection: self.projection_weight(g, one).map(scalar4),
        }
    }

    /// y = Σ_t g_t · branch_t(x) + w_res · x (skip adds its weight to the residual, which
    /// is always present where skip is offered). g_t joins the branch's output mask, so
    /// that it is applied in the branch's last BN pass: M_o · pwl(h) · g_t.
    pub fn forward(&self, x: Tensor<4>, w: &BlockWeights) -> Tensor<4> {
        let c_out = self.plan.c_out.max();
        let out = w.masks[0].out.as_ref();
        let y = self
            .branches
            .iter()
            .zip(&w.masks)
            .enumerate()
            .map(|(t, (b, m))| match &w.branch {
                None => b.forward_masked(x.clone(), Some(m)),
                Some(gs) => {
                    let masks = IrMasks {
                        out: Some(weighted_mask(m.out.as_ref(), &gs[t], c_out)),
                        ..m.clone()
                    };
                    b.forward_masked(x.clone(), Some(&masks))
                }
            })
            .reduce(|a, b| a + b)
            .expect("a block has a branch");
        // A skip that changes the shape is the projection: + w_proj · M_o · proj(x).
        let y = match (&self.proj, &w.projection) {
            (Some(proj), Some(wp)) => {
                let s = weighted_mask(out, wp, c_out);
                y + proj.forward_masked(x.clone(), None, Some(&s))
            }
            _ => y,
        };
        match &w.residual {
            Residual::None => y,
            Residual::Full => y + fit_channels(x, c_out),
            Residual::Weighted(p) => crate::kernels::add_scaled(y, x, p.clone().reshape([1])),
        }
    }

    /// The block on one path (`picks`: one option per choice): only the picked branch at
    /// the picked widths, its weights cut from the shared ones (the first channels, the
    /// centre of a superkernel). Skip is the identity, or the projection where the shape
    /// changes. Equals [`forward`](Self::forward) under one-hot weights on the picked
    /// channels, at the cost of the derived block.
    pub fn forward_path(&self, x: Tensor<4>, picks: &[usize]) -> Tensor<4> {
        let p = &self.plan;
        let t = p.op_choice.map_or(0, |c| picks[c]);
        let Some(branch) = p.branches.get(t) else {
            let c_out = p.c_out.pick(picks);
            return match &self.proj {
                Some(proj) if p.stride != 1 || x.dims()[1] != c_out => {
                    proj.forward_sliced(x, c_out, 1)
                }
                _ => x,
            };
        };
        let mid_index = p.mid_index(picks, t);
        let block = if self.superkernel {
            &self.branches[0]
        } else {
            &self.branches[t]
        };
        let layout = IrLayout {
            c_in: x.dims()[1],
            mid: p.mid.values[mid_index],
            c_out: p.c_out.pick(picks),
            kernel: branch.kernel,
            stride: p.stride,
            se: branch.se.then(|| p.se_hidden[mid_index]),
            act: p.act,
        };
        block.forward_path(x, &layout)
    }

    /// Expected FLOPs and params: Σ_t g_t · cost(branch_t) on effective shapes, plus the
    /// skip projection's weighted cost.
    pub fn expected_cost(
        &self,
        g: &ArchWeights,
        one: &Tensor<1>,
        c_in: Eff,
        c_out: Eff,
        area_in: Eff,
        area_out: Eff,
    ) -> Cost<Eff> {
        let p = &self.plan;
        let g_in = option_weights(&p.c_in, g, one);
        let g_mid = option_weights(&p.mid, g, one);
        let (mid, se) = match p.mid.choice {
            Some(c) => (
                Eff::expect(g.get(c), &self.mid_values),
                Eff::expect(g.get(c), &self.se_values),
            ),
            None => (
                Eff::Const(p.mid.values[0] as f64),
                Eff::Const(p.se_hidden[0] as f64),
            ),
        };
        let mut total = Cost::zero();
        for (t, br) in p.branches.iter().enumerate() {
            let (mid, se, pw) = match br.mid {
                Some(i) => (
                    Eff::Const(p.mid.values[i] as f64),
                    Eff::Const(p.se_hidden[i] as f64),
                    self.pw_keep(Mid::Option(i), g_in),
                ),
                None => (
                    mid.clone(),
                    se.clone(),
                    self.pw_keep(Mid::Weighted(g_mid), g_in),
                ),
            };
            let c = cost::ir(
                IrShape {
                    c_in: c_in.clone(),
                    mid,
                    c_out: c_out.clone(),
                    se: br.se.then_some(se),
                    kernel: br.kernel as u64,
                    area_in: area_in.clone(),
                    area_out: area_out.clone(),
                    pw,
                },
                Convention::Ours,
            );
            total = total
                + match p.op_choice {
                    Some(oc) => c.weighted(Eff::Var(g.get(oc).clone().narrow(0, t, 1))),
                    None => c,
                };
        }
        match self.projection_weight(g, one) {
            Some(w) => {
                total
                    + Convention::Ours
                        .conv_bn(1, area_out, c_in, c_out)
                        .weighted(Eff::Var(w))
            }
            None => total,
        }
    }
}
