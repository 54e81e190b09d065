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
use crate::cost::{self, Cost, IrShape};
use crate::nn::{IrBlock, IrBlockConfig, IrMasks, fit_channels};

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

impl std::str::FromStr for OpSharing {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "branches" => Ok(OpSharing::Branches),
            "superkernel" => Ok(OpSharing::Superkernel),
            o => Err(format!(
                "unknown op sharing `{o}`; expected branches or superkernel"
            )),
        }
    }
}

/// One searched block.
#[derive(Module, Debug)]
pub struct SuperBlock {
    /// One block per op branch, or the one shared block of a superkernel.
    pub branches: Vec<IrBlock>,
    /// Superkernel: the kernel matrix of the branches [T, k·k] (when kernels differ).
    pub kernel_select: Option<Tensor<2>>,
    /// Superkernel: `[branch t has SE]` [T] (when some but not all branches have SE).
    pub se_select: Option<Tensor<1>>,
    /// Prefix matrix of the hidden-width options [K_e, mid_max].
    pub mid_prefix: Option<Tensor<2>>,
    /// Prefix matrix of the SE hidden widths that follow the expansion choice.
    pub se_prefix: Option<Tensor<2>>,
    pub mid_values: Tensor<1>,
    pub se_values: Tensor<1>,
    /// `[mid_i == in_j]`: where the pw expansion of the derived block is absent.
    pub pw_eq: Option<Tensor<2>>,
    /// `[in_j == out_k]` for a stage's first block with stride 1: where it has a residual.
    pub res_eq: Option<Tensor<2>>,
    #[module(skip)]
    pub plan: BlockPlan,
    /// The op branches share one block (superkernel mode with more than one branch).
    #[module(skip)]
    pub superkernel: bool,
}

/// Everything a block needs from the architecture weights in one forward pass.
pub struct BlockWeights {
    pub masks: IrMasks,
    /// Weight of each op branch [1,1,1,1] (skip excluded), or `None` for one branch.
    pub branch: Option<Vec<Tensor<4>>>,
    /// Weight of the identity path added to the output.
    pub residual: Residual,
}

/// How the input is added back.
pub enum Residual {
    None,
    Full,
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

fn scalar4(t: Tensor<1>) -> Tensor<4> {
    t.reshape([1, 1, 1, 1])
}

impl SuperBlock {
    pub fn new(plan: &BlockPlan, sharing: OpSharing, device: &Device) -> Self {
        let mid_max = plan.mid.max();
        let superkernel = sharing == OpSharing::Superkernel && plan.branches.len() > 1;
        let kernels: Vec<usize> = plan.branches.iter().map(|b| b.kernel).collect();
        let ses: Vec<bool> = plan.branches.iter().map(|b| b.se).collect();
        let shared = [Branch {
            kernel: kernels.iter().copied().max().unwrap_or(1),
            se: ses.contains(&true),
        }];
        let branch_plans: &[Branch] = if superkernel { &shared } else { &plan.branches };
        let se_max = plan.se_hidden.iter().copied().max().unwrap_or(0);
        let pw_pairs = equality_matrix(&plan.mid.values, &plan.c_in.values, device);
        let all_equal = plan
            .mid
            .values
            .iter()
            .all(|m| plan.c_in.values.iter().all(|c| c == m));
        let branches = branch_plans
            .iter()
            .map(|br| {
                IrBlockConfig::new(
                    plan.c_in.max(),
                    mid_max,
                    plan.c_out.max(),
                    br.kernel,
                    plan.stride,
                    plan.act,
                    !all_equal,
                    false,
                )
                .with_se(br.se.then_some(se_max))
                .init(device)
            })
            .collect();
        let searched = plan.mid.choice.is_some();
        let f = |v: &[usize]| Tensor::<1>::from_floats(as_f32(v).as_slice(), device);
        let kernel_select = (superkernel && kernels.iter().any(|&k| k != kernels[0]))
            .then(|| kernel_matrix(&kernels, device));
        let se_select = (superkernel && ses.iter().any(|&x| x != ses[0])).then(|| {
            let v: Vec<f32> = ses.iter().map(|&x| f32::from(u8::from(x))).collect();
            Tensor::<1>::from_floats(v.as_slice(), device)
        });
        SuperBlock {
            branches,
            kernel_select,
            se_select,
            mid_prefix: searched.then(|| prefix_matrix(&plan.mid.values, device)),
            se_prefix: (searched && plan.has_se_branch())
                .then(|| prefix_matrix(&plan.se_hidden, device)),
            mid_values: f(&plan.mid.values),
            se_values: f(&plan.se_hidden),
            pw_eq: if all_equal { None } else { pw_pairs },
            res_eq: (plan.is_first() && plan.stride == 1)
                .then(|| equality_matrix(&plan.c_in.values, &plan.c_out.values, device))
                .flatten(),
            plan: plan.clone(),
            superkernel,
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
        let g_mid = option_weights(&p.mid, g, one);
        let g_in = option_weights(&p.c_in, g, one);
        let g_out = option_weights(&p.c_out, g, one);
        let n_ops = p.branches.len();
        // Superkernel: the branches' weights g_t (skip excluded) and their sum s.
        let shared = p.op_choice.filter(|_| self.superkernel).map(|c| {
            let g_t = g.get(c).clone().narrow(0, 0, n_ops);
            let s = g_t.clone().sum();
            (g_t, s)
        });
        let (kernel, se_keep) = match &shared {
            None => (None, None),
            Some((g_t, s)) => {
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
        };
        let masks = IrMasks {
            kernel,
            se_keep,
            expand: self.mid_prefix.as_ref().map(|m| channel_mask(g_mid, m)),
            se: self.se_prefix.as_ref().map(|m| channel_mask(g_mid, m)),
            out: out_mask.cloned(),
            pw_keep: self
                .pw_eq
                .as_ref()
                .map(|e| scalar4(prob_equal(g_mid, e, g_in).neg().add_scalar(1.0))),
        };
        let branch = match shared {
            Some((_, s)) => Some(vec![scalar4(s)]),
            None => p.op_choice.map(|c| {
                let g_op = g.get(c);
                (0..n_ops)
                    .map(|t| scalar4(g_op.clone().narrow(0, t, 1)))
                    .collect()
            }),
        };
        let residual = if p.stride != 1 {
            Residual::None
        } else if !p.is_first() {
            Residual::Full
        } else {
            match &self.res_eq {
                None => Residual::None,
                Some(_) if p.c_in.choice.is_none() && p.c_out.choice.is_none() => Residual::Full,
                Some(e) => Residual::Weighted(scalar4(prob_equal(g_in, e, g_out))),
            }
        };
        BlockWeights {
            masks,
            branch,
            residual,
        }
    }

    /// y = Σ_t g_t · branch_t(x) + w_res · x (skip adds its weight to the residual, which
    /// is always present where skip is offered).
    pub fn forward(&self, x: Tensor<4>, w: &BlockWeights) -> Tensor<4> {
        let outs = self
            .branches
            .iter()
            .map(|b| b.forward_masked(x.clone(), Some(&w.masks)));
        let y = match &w.branch {
            None => outs.reduce(|a, b| a + b).expect("a block has a branch"),
            Some(gs) => outs
                .zip(gs)
                .map(|(y, g)| y * g.clone())
                .reduce(|a, b| a + b)
                .expect("a block has a branch"),
        };
        match &w.residual {
            Residual::None => y,
            Residual::Full => y + fit_channels(x, self.plan.c_out.max()),
            Residual::Weighted(p) => y + fit_channels(x, self.plan.c_out.max()) * p.clone(),
        }
    }

    /// The block on one path (`picks`: one option per choice): only the picked branch at
    /// the picked widths, its weights cut from the shared ones (the first channels, the
    /// centre of a superkernel). Skip is the identity. Equals [`forward`](Self::forward)
    /// under one-hot weights on the picked channels, at the cost of the derived block.
    pub fn forward_path(&self, x: Tensor<4>, picks: &[usize]) -> Tensor<4> {
        let p = &self.plan;
        let t = p.op_choice.map_or(0, |c| picks[c]);
        let Some(branch) = p.branches.get(t) else {
            return x; // skip: offered only where in = out and stride 1
        };
        let mid_index = p.mid.choice.map_or(0, |c| picks[c]);
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

    /// Expected FLOPs and params: Σ_t g_t · cost(branch_t) on effective shapes.
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
        let pw = match &self.pw_eq {
            Some(e) => Eff::Var(
                prob_equal(
                    option_weights(&p.mid, g, one),
                    e,
                    option_weights(&p.c_in, g, one),
                )
                .neg()
                .add_scalar(1.0),
            ),
            None => Eff::Const(if self.branches[0].pw.is_some() {
                1.0
            } else {
                0.0
            }),
        };
        let mut total = Cost::zero();
        for (t, br) in p.branches.iter().enumerate() {
            let c = cost::ir(IrShape {
                c_in: c_in.clone(),
                mid: mid.clone(),
                c_out: c_out.clone(),
                se: br.se.then(|| se.clone()),
                kernel: br.kernel as u64,
                area_in: area_in.clone(),
                area_out: area_out.clone(),
                pw: pw.clone(),
            });
            total = total
                + match p.op_choice {
                    Some(oc) => c.weighted(Eff::Var(g.get(oc).clone().narrow(0, t, 1))),
                    None => c,
                };
        }
        total
    }
}
