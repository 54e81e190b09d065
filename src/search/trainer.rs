//! One search step at a time: the supernet, its architecture logits, both optimizers and
//! the cost-aware architecture loss ([`ArchLoss`] over a [`SearchCost`]). The same code
//! runs on every backend.

use burn::module::Module;
use burn::nn::loss::{CrossEntropyLoss, CrossEntropyLossConfig};
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer, SgdConfig};
use burn::tensor::{Device, Int, Tensor};

use std::sync::Arc;

use super::config::SearchConfig;
use super::distill::soft_cross_entropy;
use super::loss::{ArchLoss, SearchCost, search_cost};
use crate::error::{Error, Result};
use crate::run::save_module;
use crate::space::Space;
use crate::supernet::{ArchLogits, EXTREME_LIMIT, Eff, Supernet};

/// Supernet weights and architecture logits with their optimizers.
pub struct SupernetTrainer {
    /// The supernet (weights).
    pub net: Supernet,
    /// The architecture logits α.
    pub logits: ArchLogits,
    /// SGD of the weights.
    pub weight_opt: ModuleOptimizer,
    /// Adam of the architecture logits.
    pub arch_opt: ModuleOptimizer,
    ce: CrossEntropyLoss,
    /// The cost the architecture loss reads.
    pub cost: Arc<dyn SearchCost>,
    /// Expected cost at uniform weights (the additive loss's reference).
    pub uniform_cost: f64,
    /// The architecture loss, with its state (the budget form's μ).
    pub loss: ArchLoss,
    /// Picks of the space's largest and smallest networks (by FLOPs).
    pub largest: Vec<usize>,
    /// Picks of the smallest network (by FLOPs).
    pub smallest: Vec<usize>,
}

/// Host value of an effective quantity.
pub fn value(e: Eff) -> f64 {
    match e {
        Eff::Const(c) => c,
        Eff::Var(t) => t.into_scalar::<f32>() as f64,
    }
}

impl SupernetTrainer {
    /// A fresh supernet (initialized from `cfg.seed`) on the autodiff version of `device`.
    pub fn new(space: &Space, cfg: &SearchConfig, device: &Device) -> Result<Self> {
        let ad = device.clone().autodiff();
        ad.seed(cfg.seed);
        let net = Supernet::with_sharing(space, cfg.op_sharing, &ad);
        let logits = ArchLogits::new(&net.plan.choices, &ad);
        let cost = search_cost(cfg, &net.plan)?;
        let range = cost.range(&net.plan)?;
        let uniform_cost =
            value(cost.expected(&net.valid(), &logits.valid().sample(1.0, None, false)));
        let loss = ArchLoss::new(cfg, &*cost, range, uniform_cost)?;
        let largest = net.plan.extreme(true, EXTREME_LIMIT)?;
        let smallest = net.plan.extreme(false, EXTREME_LIMIT)?;
        // PyTorch-equivalent settings: SGD without dampening, Adam eps 1e-8.
        let weight_opt = SgdConfig::new()
            .with_momentum(Some(MomentumConfig {
                momentum: cfg.weight_momentum,
                dampening: 0.0,
                nesterov: false,
            }))
            .with_weight_decay(Some(WeightDecayConfig::new(cfg.weight_decay as f32)))
            .init();
        let arch_opt = AdamConfig::new()
            .with_epsilon(1e-8)
            .with_weight_decay(Some(WeightDecayConfig::new(cfg.arch_weight_decay as f32)))
            .init();
        Ok(SupernetTrainer {
            net,
            logits,
            weight_opt,
            arch_opt,
            ce: CrossEntropyLossConfig::new().init(&ad),
            cost,
            uniform_cost,
            loss,
            largest: largest.picks,
            smallest: smallest.picks,
        })
    }

    /// One weight step on (x, y): g is detached, so no architecture gradient is computed.
    /// Returns the loss and the logits, detached.
    pub fn weight_step(
        &mut self,
        x: Tensor<4>,
        y: Tensor<1, Int>,
        temperature: f64,
        noise: &Tensor<1>,
        hard: bool,
        lr: f64,
    ) -> (Tensor<1>, Tensor<2>) {
        // Sampled from untracked logits: sampling the tracked ones and detaching the result
        // would leave the softmax's graph nodes behind, never consumed by a backward pass,
        // and Burn's autodiff scans every such orphan at each backward (weight steps grew
        // from 19 to 34 ms in 400 steps of the tiny space's bench before this).
        let g = self
            .logits
            .clone()
            .no_grad()
            .sample(temperature, Some(noise), hard);
        let out = self.net.forward(x, &g);
        self.descend(out, y, lr)
    }

    /// One SGD step on the weights down the cross-entropy of `out`; returns the loss and
    /// the logits, detached.
    fn descend(&mut self, out: Tensor<2>, y: Tensor<1, Int>, lr: f64) -> (Tensor<1>, Tensor<2>) {
        let loss = self.ce.forward(out.clone(), y);
        self.step_weights(loss.clone(), lr);
        (loss.detach(), out.detach())
    }

    /// One SGD step on the weights down `loss`.
    fn step_weights(&mut self, loss: Tensor<1>, lr: f64) {
        let mut grads = loss.backward();
        let gp = GradientsParams::from_module(&mut grads, &self.net);
        self.net = self.weight_opt.step(lr, self.net.clone(), gp);
    }

    /// One single-path weight step *(ours)* on (x, y): the path is the hard Gumbel sample
    /// of the noise `noise` (host values, see [`ArchLogits::sample_path`]), and only that
    /// network runs ([`Supernet::forward_path`]). Returns the loss and the logits, detached.
    pub fn weight_step_path(
        &mut self,
        x: Tensor<4>,
        y: Tensor<1, Int>,
        noise: &[f32],
        lr: f64,
    ) -> (Tensor<1>, Tensor<2>) {
        let picks = self.logits.sample_path(noise);
        self.weight_step_picks(x, y, &picks, lr)
    }

    /// One weight step of the network `picks` alone (e.g. the largest, in full-width
    /// warm-up). Returns the loss and the logits, detached.
    pub fn weight_step_picks(
        &mut self,
        x: Tensor<4>,
        y: Tensor<1, Int>,
        picks: &[usize],
        lr: f64,
    ) -> (Tensor<1>, Tensor<2>) {
        let out = self.net.forward_path(x, picks);
        self.descend(out, y, lr)
    }

    /// One sandwich weight step *(ours)*: the largest network, the smallest and the hard
    /// sample of `noise`, one SGD step down the sum of their losses. Without `distill`
    /// each loss is the cross-entropy against the labels; with it (in-place distillation)
    /// only the largest network's is, and the other two learn the largest network's
    /// detached predictions ([`soft_cross_entropy`]). Returns the sampled path's
    /// cross-entropy against the labels and its logits, detached.
    pub fn weight_step_sandwich(
        &mut self,
        x: Tensor<4>,
        y: Tensor<1, Int>,
        noise: &[f32],
        distill: bool,
        lr: f64,
    ) -> (Tensor<1>, Tensor<2>) {
        let picks = self.logits.sample_path(noise);
        let teacher = self.net.forward_path(x.clone(), &self.largest);
        let student = self.net.forward_path(x.clone(), &self.smallest);
        let sampled = self.net.forward_path(x, &picks);
        let sampled_ce = self.ce.forward(sampled.clone(), y.clone());
        let total = if distill {
            let soft = soft_cross_entropy(student, teacher.clone())
                + soft_cross_entropy(sampled.clone(), teacher.clone());
            self.ce.forward(teacher, y) + soft
        } else {
            self.ce.forward(teacher, y.clone()) + self.ce.forward(student, y) + sampled_ce.clone()
        };
        self.step_weights(total, lr);
        (sampled_ce.detach(), sampled.detach())
    }

    /// One bilateral weight step *(ours, after BCNet)*: the hard sample of `noise`, run on
    /// the first channels of every layer and on the last ones (the mirror, see
    /// [`Supernet::mirrored`]); one SGD step down the mean of the two cross-entropies.
    /// Returns the left side's cross-entropy and logits, detached.
    pub fn weight_step_bilateral(
        &mut self,
        x: Tensor<4>,
        y: Tensor<1, Int>,
        noise: &[f32],
        lr: f64,
    ) -> (Tensor<1>, Tensor<2>) {
        let picks = self.logits.sample_path(noise);
        let left = self.net.forward_path(x.clone(), &picks);
        let right = self.net.mirrored().forward_path(x, &picks);
        let left_ce = self.ce.forward(left.clone(), y.clone());
        let total = (left_ce.clone() + self.ce.forward(right, y)).div_scalar(2.0);
        self.step_weights(total, lr);
        (left_ce.detach(), left.detach())
    }

    /// One architecture step on (x, y): the weights are a no-grad view, so no weight
    /// gradient is computed. Returns the cross-entropy and the logits, detached.
    pub fn arch_step(
        &mut self,
        x: Tensor<4>,
        y: Tensor<1, Int>,
        temperature: f64,
        noise: &Tensor<1>,
        cfg: &SearchConfig,
    ) -> (Tensor<1>, Tensor<2>) {
        let frozen = self.net.clone().no_grad();
        let g = self.logits.sample(temperature, Some(noise), cfg.hard);
        let out = frozen.forward(x, &g);
        let ce = self.ce.forward(out.clone(), y);
        let cost = self.cost.expected(&frozen, &g).into_tensor(&ce.device());
        let loss = self.loss.forward(ce.clone(), cost);
        let mut grads = loss.backward();
        let gp = GradientsParams::from_module(&mut grads, &self.logits);
        self.logits = self.arch_opt.step(cfg.arch_lr, self.logits.clone(), gp);
        (ce.detach(), out.detach())
    }

    /// The (autodiff) device the trainer's tensors live on.
    pub fn one_device(&self) -> Device {
        self.net.one.device()
    }

    /// Expected FLOPs under softmax(alpha) (no noise, T = 1).
    pub fn expected_flops(&self) -> f64 {
        let g = self.logits.valid().sample(1.0, None, false);
        value(self.net.valid().expected_cost(&g).flops)
    }

    /// Save weights, logits and both optimizers into `dir`.
    pub fn save(&self, dir: &std::path::Path) -> Result<()> {
        let err = |what: &str, e| Error::record(dir, format!("saving {what}"), e);
        save_module(&self.net, &dir.join("supernet.bpk")).map_err(|e| err("supernet", e))?;
        save_module(&self.logits, &dir.join("logits.bpk")).map_err(|e| err("logits", e))?;
        self.weight_opt
            .save(dir.join("weight_opt.bpk"))
            .map_err(|e| err("weight optimizer", e))?;
        self.arch_opt
            .save(dir.join("arch_opt.bpk"))
            .map_err(|e| err("architecture optimizer", e))
    }

    /// Load what [`save`](Self::save) wrote.
    pub fn load(&mut self, dir: &std::path::Path) -> Result<()> {
        let err = |what: &str, e| Error::record(dir, format!("loading {what}"), e);
        self.net = self
            .net
            .clone()
            .try_load_file(dir.join("supernet.bpk"))
            .map_err(|e| err("supernet", e))?;
        self.logits = self
            .logits
            .clone()
            .try_load_file(dir.join("logits.bpk"))
            .map_err(|e| err("logits", e))?;
        self.weight_opt = self
            .weight_opt
            .clone()
            .load(dir.join("weight_opt.bpk"))
            .map_err(|e| err("weight optimizer", e))?;
        self.arch_opt = self
            .arch_opt
            .clone()
            .load(dir.join("arch_opt.bpk"))
            .map_err(|e| err("architecture optimizer", e))?;
        Ok(())
    }
}
