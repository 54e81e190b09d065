//! The supernet of a search space: stem → masked blocks → head, optionally run on every
//! resolution option's sub-lattice, with its differentiable expected cost.

use burn::module::Module;
use burn::tensor::{Device, Tensor};

use super::block::{BlockWeights, OpSharing, SuperBlock, option_weights};
use super::eff::Eff;
use super::gumbel::ArchWeights;
use super::lattice::Lattice;
use super::mask::{channel_mask, prefix_matrix};
use super::plan::Plan;
use crate::cost::{self, Convention, Cost, HeadShape};
use crate::nn::{ConvBnAct, ConvBnActConfig, Head, HeadConfig, global_pool, keep_or_identity};
use crate::space::Space;

/// A DMaskingNAS supernet.
#[derive(Module, Debug)]
pub struct Supernet {
    /// The stem, at its largest width.
    pub stem: ConvBnAct,
    /// Prefix matrix of the stem's widths (when searched).
    pub stem_prefix: Option<Tensor<2>>,
    /// The stem's width options, as floats.
    pub stem_values: Tensor<1>,
    /// One masked block per searched block, in order.
    pub blocks: Vec<SuperBlock>,
    /// The head and classifier, at the largest widths.
    pub head: Head,
    /// Per stage: prefix matrix of its output widths (searched stages only).
    pub width_prefix: Vec<Option<Tensor<2>>>,
    /// Per stage: its output-width options, as floats.
    pub width_values: Vec<Tensor<1>>,
    /// The head's widths before the pool (following the last stage's width choice in
    /// `ir_pool`, its own in `conv`).
    pub head_prefix: Option<Tensor<2>>,
    /// The head's width options before the pool, as floats.
    pub head_mid_values: Tensor<1>,
    /// `ir_pool`: `[m_i == c_i]` per last-stage width option, where its 1×1 expand is absent.
    pub head_pw_absent: Option<Tensor<1>>,
    /// Per boundary: each resolution option's size there.
    pub res_sizes: Vec<Tensor<1>>,
    /// Sub-lattice indices of every resolution option (when the resolution is searched).
    pub lattice: Option<Lattice>,
    /// The constant `[1]`: the weights of a fixed value.
    pub one: Tensor<1>,
    /// The resolved plan of the space.
    #[module(skip)]
    pub plan: Plan,
}

fn floats(v: &[usize], device: &Device) -> Tensor<1> {
    let v: Vec<f32> = v.iter().map(|&x| x as f32).collect();
    Tensor::from_floats(v.as_slice(), device)
}

impl Supernet {
    /// Build the supernet of a validated space, one block per op branch (the paper).
    pub fn new(space: &Space, device: &Device) -> Self {
        Self::with_sharing(space, OpSharing::Branches, device)
    }

    /// Build the supernet of a validated space with the given op sharing.
    pub fn with_sharing(space: &Space, sharing: OpSharing, device: &Device) -> Self {
        let plan = Plan::new(space);
        let stem = ConvBnActConfig::new(plan.in_channels, plan.stem_out.max())
            .with_kernel(plan.stem_kernel)
            .with_stride(plan.stem_stride)
            .with_bias(plan.stem_bias)
            .with_act(Some(plan.stem_act))
            .init(device);
        let blocks = plan
            .blocks
            .iter()
            .map(|b| SuperBlock::new(b, sharing, device))
            .collect();
        let hp = &plan.head;
        let m_max = hp.mid.max();
        let c_max = hp.c_in.max();
        let pw_absent: Vec<usize> = (0..hp.mid.values.len())
            .map(|i| usize::from(!hp.has_pw(i)))
            .collect();
        let any_absent = pw_absent.contains(&1);
        let all_absent = pw_absent.iter().all(|&a| a == 1);
        let mut head = HeadConfig::new(hp.op, c_max, m_max, hp.out, plan.num_classes, hp.act)
            .with_dropout(plan.dropout)
            .init(device);
        if !all_absent && head.pw.is_none() {
            // c_max == m_max but some option still expands: keep the 1×1 conv.
            head.pw = Some(
                ConvBnActConfig::new(c_max, m_max)
                    .with_act(Some(hp.act))
                    .init(device),
            );
        }
        if all_absent {
            head.pw = None;
        }
        let lattice = plan
            .resolution
            .choice
            .map(|_| Lattice::new(&plan.full_sizes, &plan.sizes, device));
        Supernet {
            stem,
            stem_prefix: plan
                .stem_out
                .choice
                .map(|_| prefix_matrix(&plan.stem_out.values, device)),
            stem_values: floats(&plan.stem_out.values, device),
            blocks,
            head,
            width_prefix: plan
                .stage_out
                .iter()
                .map(|o| o.choice.map(|_| prefix_matrix(&o.values, device)))
                .collect(),
            width_values: plan
                .stage_out
                .iter()
                .map(|o| floats(&o.values, device))
                .collect(),
            head_prefix: hp.mid.choice.map(|_| prefix_matrix(&hp.mid.values, device)),
            head_mid_values: floats(&hp.mid.values, device),
            head_pw_absent: (any_absent && !all_absent).then(|| floats(&pw_absent, device)),
            res_sizes: plan.sizes.iter().map(|s| floats(s, device)).collect(),
            lattice,
            one: Tensor::ones([1], device),
            plan,
        }
    }

    fn block_weights(&self, g: &ArchWeights) -> Vec<BlockWeights> {
        let out_masks: Vec<Option<Tensor<4>>> = self
            .width_prefix
            .iter()
            .zip(&self.plan.stage_out)
            .map(|(p, o)| {
                p.as_ref()
                    .map(|p| channel_mask(option_weights(o, g, &self.one), p))
            })
            .collect();
        self.blocks
            .iter()
            .map(|b| b.weights(g, out_masks[b.plan.stage].as_ref(), &self.one))
            .collect()
    }

    /// The head's feature map: masked 1×1 expand, mixed with the identity where absent.
    fn head_features(&self, x: Tensor<4>, g: &ArchWeights) -> Tensor<4> {
        let Some(pw) = &self.head.pw else {
            return x;
        };
        let g_last = option_weights(&self.plan.head.mid, g, &self.one);
        let mask = self.head_prefix.as_ref().map(|p| channel_mask(g_last, p));
        match &self.head_pw_absent {
            Some(a) => {
                let absent = (g_last.clone() * a.clone()).sum().reshape([1, 1, 1, 1]);
                keep_or_identity(pw, x, mask.as_ref(), &absent.neg().add_scalar(1.0))
            }
            None => pw.forward_masked(x, None, mask.as_ref()),
        }
    }

    /// The stem, masked to its expected width when searched.
    fn stem_forward(&self, x: Tensor<4>, g: &ArchWeights) -> Tensor<4> {
        let mask = self
            .stem_prefix
            .as_ref()
            .map(|p| channel_mask(option_weights(&self.plan.stem_out, g, &self.one), p));
        self.stem.forward_masked(x, None, mask.as_ref())
    }

    /// Logits of images [N, C, R, R] (R = the space's input size) under weights g.
    pub fn forward(&self, x: Tensor<4>, g: &ArchWeights) -> Tensor<2> {
        let bw = self.block_weights(g);
        let last = self.plan.full_sizes.len() - 1;
        let pooled = match (&self.lattice, self.plan.resolution.choice) {
            (Some(lat), Some(c)) => {
                let g_r = g.get(c);
                let m = self.plan.resolution.values.len();
                let w = |i: usize| g_r.clone().narrow(0, i, 1).reshape([1, 1, 1, 1]);
                // Σ_i g_i · scatter_i(f(gather_i(x))) at boundary b → b + 1.
                let mix = |x: Tensor<4>, b: usize, f: &dyn Fn(Tensor<4>) -> Tensor<4>| {
                    (0..m)
                        .map(|i| lat.scatter(f(lat.gather(x.clone(), b, i)), b + 1, i) * w(i))
                        .reduce(|a, b| a + b)
                        .expect("at least one resolution")
                };
                let mut x = mix(x, 0, &|x| self.stem_forward(x, g));
                for (blk, wts) in self.blocks.iter().zip(&bw) {
                    x = mix(x, blk.plan.boundary, &|x| blk.forward(x, wts));
                }
                (0..m)
                    .map(|i| {
                        global_pool(self.head_features(lat.gather(x.clone(), last, i), g)) * w(i)
                    })
                    .reduce(|a, b| a + b)
                    .expect("at least one resolution")
            }
            _ => {
                let x = self
                    .blocks
                    .iter()
                    .zip(&bw)
                    .fold(self.stem_forward(x, g), |x, (b, w)| b.forward(x, w));
                global_pool(self.head_features(x, g))
            }
        };
        self.head.classify(pooled)
    }

    /// Logits of images [N, C, R, R] on one path (`picks`: one option per choice): the
    /// input subsampled to the picked resolution, then only the picked network, its
    /// weights cut from the supernet's. The single-path weight step *(ours)*: the cost of
    /// the derived network instead of the supernet's, with the same weight gradients as
    /// [`forward`](Self::forward) under the one-hot weights of `picks`.
    pub fn forward_path(&self, x: Tensor<4>, picks: &[usize]) -> Tensor<2> {
        let x = match (&self.lattice, self.plan.resolution.choice) {
            (Some(lat), Some(c)) => lat.gather(x, 0, picks[c]),
            _ => x,
        };
        let stem =
            self.stem
                .forward_sliced(x, self.plan.stem_out.pick(picks), self.plan.stem_kernel);
        let x = self
            .blocks
            .iter()
            .fold(stem, |x, b| b.forward_path(x, picks));
        let hp = &self.plan.head;
        let i = hp.mid.choice.map_or(0, |ch| picks[ch]);
        let h = match &self.head.pw {
            Some(pw) if hp.has_pw(i) => pw.forward_sliced(x, hp.mid.values[i], 1),
            _ => x,
        };
        self.head.classify(global_pool(h))
    }

    fn area(&self, g: &ArchWeights, b: usize) -> Eff {
        match self.plan.resolution.choice {
            Some(c) => {
                let h = Eff::expect(g.get(c), &self.res_sizes[b]);
                h.clone() * h
            }
            None => Eff::Const((self.plan.full_sizes[b] * self.plan.full_sizes[b]) as f64),
        }
    }

    /// Expected FLOPs and params under g, from effective shapes (docs/ALGORITHM.md,
    /// "Expected cost").
    pub fn expected_cost(&self, g: &ArchWeights) -> Cost<Eff> {
        let p = &self.plan;
        let width = |s: usize| match p.stage_out[s].choice {
            Some(c) => Eff::expect(g.get(c), &self.width_values[s]),
            None => Eff::Const(p.stage_out[s].values[0] as f64),
        };
        let stem_out = match p.stem_out.choice {
            Some(c) => Eff::expect(g.get(c), &self.stem_values),
            None => Eff::Const(p.stem_out.values[0] as f64),
        };
        let mut total = Convention::Ours.conv_bn(
            p.stem_kernel as u64,
            self.area(g, 1),
            Eff::Const(p.in_channels as f64),
            stem_out.clone(),
        );
        let mut c_in = stem_out;
        for blk in &self.blocks {
            let b = &blk.plan;
            let c_out = width(b.stage);
            total = total
                + blk.expected_cost(
                    g,
                    &self.one,
                    c_in,
                    c_out.clone(),
                    self.area(g, b.boundary),
                    self.area(g, b.boundary + 1),
                );
            c_in = c_out;
        }
        let hp = &p.head;
        let (mid, pw) = match hp.mid.choice {
            Some(c) => (
                Eff::expect(g.get(c), &self.head_mid_values),
                match &self.head_pw_absent {
                    Some(a) => Eff::Var((g.get(c).clone() * a.clone()).sum().neg().add_scalar(1.0)),
                    None => Eff::Const(if self.head.pw.is_some() { 1.0 } else { 0.0 }),
                },
            ),
            None => (
                Eff::Const(hp.mid.values[0] as f64),
                Eff::Const(if self.head.pw.is_some() { 1.0 } else { 0.0 }),
            ),
        };
        let last = p.full_sizes.len() - 1;
        total
            + cost::head(
                HeadShape {
                    op: hp.op,
                    c_in,
                    mid,
                    out: Eff::Const(hp.out as f64),
                    classes: Eff::Const(p.num_classes as f64),
                    area: self.area(g, last),
                    pw,
                },
                Convention::Ours,
            )
    }
}
